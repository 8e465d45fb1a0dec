//! Operations on a running [`Slapd`] through the OpenLDAP client tools: adds, modifications,
//! renames, deletes and searches.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::Slapd;
use crate::util::{count_dns, parse_ldif, run, run_stdout, LdifEntry};

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

    /// Runs `ldapsearch -LLL -o ldif-wrap=no` with the admin bind and `args` appended; returns
    /// stdout.
    pub fn ldapsearch(&self, args: &[&str]) -> Result<String> {
        run_stdout(
            self.client("ldapsearch")
                .args(["-LLL", "-o", "ldif-wrap=no"])
                .args(args),
        )
    }

    /// Number of entries under `base` (subtree) matching `filter`, read with a paged search
    /// (`-E pr=1000/noprompt`).
    pub fn search_count(&self, base: &str, filter: &str) -> Result<usize> {
        let out = self.ldapsearch(&[
            "-E",
            "pr=1000/noprompt",
            "-b",
            base,
            "-s",
            "sub",
            filter,
            "1.1",
        ])?;
        Ok(count_dns(&out))
    }

    /// Entries under `base` (subtree) matching `filter` with `attrs` (empty = all user
    /// attributes; add "+" for operational ones), paged.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<Vec<LdifEntry>> {
        let mut args = vec!["-E", "pr=1000/noprompt", "-b", base, "-s", "sub", filter];
        args.extend_from_slice(attrs);
        parse_ldif(&self.ldapsearch(&args)?)
    }

    /// The entry at `dn` (base search), if it exists.
    pub fn get(&self, dn: &str, attrs: &[&str]) -> Result<Option<LdifEntry>> {
        let mut args = vec!["-b", dn, "-s", "base", "(objectClass=*)"];
        args.extend_from_slice(attrs);
        let out = self
            .client("ldapsearch")
            .args(["-LLL", "-o", "ldif-wrap=no"])
            .args(&args)
            .output()?;
        match out.status.code() {
            Some(0) => Ok(parse_ldif(&String::from_utf8_lossy(&out.stdout))?
                .into_iter()
                .next()),
            Some(32) => Ok(None), // noSuchObject
            _ => bail!(
                "ldapsearch -b {dn} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }
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
