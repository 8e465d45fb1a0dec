//! Operations on a running [`SambaDc`] through the OpenLDAP client tools: searches, users,
//! groups and memberships, account flags, renames, passwords, deletes.

use std::fmt::Write as _;
use std::fs;

use anyhow::{anyhow, bail, Context, Result};

use super::SambaDc;
use crate::util::{escape_dn_value, ldif_line, parse_ldif, run, search, LdifEntry};

const ADD_WORKERS: usize = 4;

impl SambaDc {
    /// `ldapadd` over plain LDAP.
    pub fn add_ldif(&self, ldif: &str) -> Result<()> {
        self.ldif_tool("ldapadd", &self.url(), ldif)
    }

    /// `ldapmodify` (change records) over plain LDAP.
    pub fn modify(&self, ldif: &str) -> Result<()> {
        self.ldif_tool("ldapmodify", &self.url(), ldif)
    }

    fn ldif_tool(&self, program: &str, url: &str, ldif: &str) -> Result<()> {
        let f = tempfile::Builder::new()
            .suffix(".ldif")
            .tempfile_in(self.dir.path())?;
        fs::write(f.path(), ldif)?;
        run(self.client_url(program, url).arg("-f").arg(f.path()))?;
        Ok(())
    }

    /// `ldapsearch -LLL -o ldif-wrap=no` bound as Administrator with `args` appended.
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

    /// Searches including deleted objects (tombstones; control 1.2.840.113556.1.4.417).
    pub fn search_with_deleted(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<LdifEntry>> {
        let mut args = vec![
            "-E",
            "!1.2.840.113556.1.4.417",
            "-b",
            base,
            "-s",
            "sub",
            filter,
        ];
        args.extend_from_slice(attrs);
        parse_ldif(&self.ldapsearch(&args)?)
    }

    /// `highestCommittedUSN` of the rootDSE.
    pub fn highest_committed_usn(&self) -> Result<u64> {
        let e = self
            .get("", &["highestCommittedUSN"])?
            .ok_or_else(|| anyhow!("no rootDSE"))?;
        e.first("highestCommittedUSN")
            .ok_or_else(|| anyhow!("rootDSE without highestCommittedUSN"))?
            .parse()
            .context("highestCommittedUSN")
    }

    /// Adds users `<prefix><i>` for i in 0..n in `CN=Users` (enabled, no password:
    /// `userAccountControl` 544 = normal account + password not required). Returns their DNs.
    /// `prefix` + index must fit sAMAccountName (20 characters).
    pub fn add_users(&self, n: usize, prefix: &str) -> Result<Vec<String>> {
        self.add_users_with_password(n, prefix, None)
    }

    /// Like [`SambaDc::add_users`]; with a password the users get `unicodePwd` and
    /// `userAccountControl` 512, and the add goes over LDAPS (AD only accepts passwords on an
    /// encrypted connection; 3-5x slower).
    pub fn add_users_with_password(
        &self,
        n: usize,
        prefix: &str,
        password: Option<&str>,
    ) -> Result<Vec<String>> {
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
        if let Some(long) = names.iter().find(|s| s.len() > 20) {
            bail!("sAMAccountName {long:?} is longer than 20 characters");
        }
        let dns: Vec<String> = names.iter().map(|n| self.user_dn(n)).collect();
        let url = if password.is_some() {
            self.ldaps_url()
        } else {
            self.url()
        };
        // a few ldapadd processes in parallel (samba's prefork model has 4 LDAP workers)
        let workers = if n >= 200 { ADD_WORKERS } else { 1 };
        let per = n.div_ceil(workers).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .chunks(per)
                .zip(dns.chunks(per))
                .map(|(names, dns)| {
                    let url = &url;
                    scope.spawn(move || {
                        let mut ldif = String::with_capacity(names.len() * 400);
                        for (name, dn) in names.iter().zip(dns) {
                            ldif.push_str(&self.user_ldif(dn, name, password));
                        }
                        self.ldif_tool("ldapadd", url, &ldif)
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| anyhow!("ldapadd thread panicked"))?)
        })?;
        Ok(dns)
    }

    /// Adds one user `name` (see [`SambaDc::add_users_with_password`]); returns its DN.
    pub fn add_user(&self, name: &str, password: Option<&str>) -> Result<String> {
        let dn = self.user_dn(name);
        let url = if password.is_some() {
            self.ldaps_url()
        } else {
            self.url()
        };
        self.ldif_tool("ldapadd", &url, &self.user_ldif(&dn, name, password))?;
        Ok(dn)
    }

    fn user_ldif(&self, dn: &str, name: &str, password: Option<&str>) -> String {
        let mut s = String::new();
        ldif_line(&mut s, "dn", dn);
        ldif_line(&mut s, "objectClass", "user");
        ldif_line(&mut s, "sAMAccountName", name);
        ldif_line(
            &mut s,
            "userPrincipalName",
            format!("{name}@{}", self.dns_domain()),
        );
        ldif_line(&mut s, "givenName", name);
        ldif_line(&mut s, "sn", "Tester");
        ldif_line(&mut s, "displayName", format!("{name} Tester"));
        ldif_line(&mut s, "mail", format!("{name}@{}", self.dns_domain()));
        ldif_line(&mut s, "title", "Engineer");
        ldif_line(&mut s, "department", "Engineering");
        match password {
            Some(pw) => {
                ldif_line(&mut s, "unicodePwd", unicode_pwd(pw));
                ldif_line(&mut s, "userAccountControl", "512");
            }
            None => ldif_line(&mut s, "userAccountControl", "544"),
        }
        s.push('\n');
        s
    }

    /// Adds a global security group `name` in `CN=Users` with `members` (DNs; any number: more
    /// than 1,000 are added in batches of 1,000). Returns the group's DN.
    pub fn add_group(&self, name: &str, members: &[String]) -> Result<String> {
        let dn = self.user_dn(name);
        let mut s = String::new();
        ldif_line(&mut s, "dn", &dn);
        ldif_line(&mut s, "objectClass", "group");
        ldif_line(&mut s, "sAMAccountName", name);
        let (first, rest) = members.split_at(members.len().min(1000));
        for m in first {
            ldif_line(&mut s, "member", m);
        }
        s.push('\n');
        self.add_ldif(&s)?;
        for chunk in rest.chunks(1000) {
            self.add_members(&dn, chunk)?;
        }
        Ok(dn)
    }

    /// Adds `members` (DNs) to the group `group_dn`.
    pub fn add_members(&self, group_dn: &str, members: &[String]) -> Result<()> {
        self.change_members(group_dn, "add", members)
    }

    /// Removes `members` (DNs) from the group `group_dn`.
    pub fn remove_members(&self, group_dn: &str, members: &[String]) -> Result<()> {
        self.change_members(group_dn, "delete", members)
    }

    fn change_members(&self, group_dn: &str, op: &str, members: &[String]) -> Result<()> {
        let mut s = String::new();
        ldif_line(&mut s, "dn", group_dn);
        s.push_str("changetype: modify\n");
        let _ = writeln!(s, "{op}: member");
        for m in members {
            ldif_line(&mut s, "member", m);
        }
        s.push_str("-\n\n");
        self.modify(&s)
    }

    /// `userAccountControl` of `dn`.
    pub fn user_account_control(&self, dn: &str) -> Result<u32> {
        let e = self
            .get(dn, &["userAccountControl"])?
            .ok_or_else(|| anyhow!("no entry {dn}"))?;
        e.first("userAccountControl")
            .ok_or_else(|| anyhow!("{dn} has no userAccountControl"))?
            .parse()
            .context("userAccountControl")
    }

    /// Sets the ACCOUNTDISABLE bit (2) of `userAccountControl` (512 → 514, 544 → 546).
    pub fn disable_user(&self, dn: &str) -> Result<()> {
        let uac = self.user_account_control(dn)?;
        self.set_uac(dn, uac | 2)
    }

    /// Clears the ACCOUNTDISABLE bit.
    pub fn enable_user(&self, dn: &str) -> Result<()> {
        let uac = self.user_account_control(dn)?;
        self.set_uac(dn, uac & !2)
    }

    fn set_uac(&self, dn: &str, uac: u32) -> Result<()> {
        let mut s = String::new();
        ldif_line(&mut s, "dn", dn);
        let _ = write!(
            s,
            "changetype: modify\nreplace: userAccountControl\nuserAccountControl: {uac}\n-\n\n"
        );
        self.modify(&s)
    }

    /// Renames `dn` to `CN=<new_cn>` in the same container (keeps objectGUID and
    /// sAMAccountName). Returns the new DN.
    pub fn rename_user(&self, dn: &str, new_cn: &str) -> Result<String> {
        let rdn = format!("CN={}", escape_dn_value(new_cn));
        run(self.client("ldapmodrdn").args(["-r", dn, &rdn]))?;
        let parent =
            crate::util::dn_parent(dn).ok_or_else(|| anyhow!("DN without parent: {dn}"))?;
        Ok(format!("{rdn},{parent}"))
    }

    /// Sets a user's password (over LDAPS).
    pub fn set_password(&self, dn: &str, password: &str) -> Result<()> {
        let mut s = String::new();
        ldif_line(&mut s, "dn", dn);
        s.push_str("changetype: modify\nreplace: unicodePwd\n");
        ldif_line(&mut s, "unicodePwd", unicode_pwd(password));
        s.push_str("-\n\n");
        self.ldif_tool("ldapmodify", &self.ldaps_url(), &s)
    }

    /// `ldapdelete DN`.
    pub fn delete(&self, dn: &str) -> Result<()> {
        run(self.client("ldapdelete").arg(dn)).map(|_| ())
    }
}

/// `unicodePwd` value: the password in double quotes, UTF-16LE.
fn unicode_pwd(pw: &str) -> Vec<u8> {
    format!("\"{pw}\"")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect()
}
