//! A throwaway Samba Active Directory domain controller on a loopback address.
//!
//! Follows `shared/notes/samba-ad.md`: provision with `--use-rfc2307 --dns-backend=NONE` into a
//! private directory, everything (pid, logs, sockets) inside it, only the `ldap` and `kdc`
//! services, bound to one loopback address (ports 389/636 cannot be moved, so parallel DCs need
//! different addresses). A provisioned copy is cached under `/tmp/usersync-samba-cache` and
//! copied for each start.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::tls::TlsFiles;
use crate::util::{
    copy_tree, count_dns, ensure_dir, ensure_packages, escape_dn_value, fnv1a, ldif_line,
    parse_ldif, port_open, read_tail, run, run_stdout, sweep_leftovers, tool, wait_until,
    write_private, LdifEntry, ServerProcess,
};

const SAMBA_FILES: &[&str] = &[
    "/usr/sbin/samba",
    "/usr/bin/samba-tool",
    "/usr/share/samba/setup/ad-schema",
    "/usr/bin/ldbsearch",
    "/usr/bin/ldapsearch",
    "/usr/bin/ldapadd",
    "/usr/bin/ldapmodify",
    "/usr/bin/ldapmodrdn",
    "/usr/bin/ldapdelete",
];
const SAMBA_PACKAGES: &[&str] = &[
    "samba",
    "samba-ad-dc",
    "samba-ad-provision",
    "samba-dsdb-modules",
    "winbind",
    "ldb-tools",
    "ldap-utils",
];

/// Installs the Samba AD DC packages if missing (services are kept from starting).
pub fn ensure_samba_installed() -> Result<()> {
    ensure_packages(SAMBA_FILES, SAMBA_PACKAGES)
}

/// How to start a [`SambaDc`].
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

/// A running Samba AD DC. Dropping it sends SIGTERM, waits, and removes its directory.
pub struct SambaDc {
    opts: SambaOptions,
    process: Option<ServerProcess>,
    tls: TlsFiles,
    dir: TempDir,
    _addr_lock: File,
    pub timings: SambaTimings,
}

const ADD_WORKERS: usize = 4;

const RUN_DIR: &str = "/tmp/usersync-samba-run";

impl SambaDc {
    /// Installs Samba if needed, takes the address (waiting for another `SambaDc` on it, killing
    /// a leftover samba of a crashed run), provisions or copies a cached provisioned domain,
    /// writes TLS certificates and starts `samba -i`, returning once a simple bind as
    /// Administrator works.
    pub fn start(opts: SambaOptions) -> Result<Self> {
        if !opts.address.is_loopback() {
            bail!(
                "SambaDc only runs on loopback addresses, not {}",
                opts.address
            );
        }
        ensure_samba_installed()?;
        let addr_lock = lock_address(opts.address)?;
        let dir = tempfile::Builder::new()
            .prefix("usersync-samba-")
            .tempdir()
            .context("creating the samba temp dir")?;
        let dc = dir.path().join("dc");
        let mut timings = SambaTimings::default();
        match &opts.cache_dir {
            Some(cache) => {
                let cached = cached_provision(&opts, cache, &mut timings)?;
                let t = Instant::now();
                copy_tree(&cached.join("dc"), &dc)?;
                let old = fs::read_to_string(cached.join("provisioned-at"))?;
                let conf = dc.join("etc/smb.conf");
                let text = fs::read_to_string(&conf)?;
                fs::write(&conf, text.replace(old.trim(), &dc.display().to_string()))?;
                timings.copy = t.elapsed();
                timings.from_cache = true;
            }
            None => {
                let t = Instant::now();
                provision(&opts, &dc)?;
                timings.provision = t.elapsed();
            }
        }
        let tls = TlsFiles::generate(
            &dc.join("tls"),
            "usersync samba test CA",
            &[IpAddr::V4(opts.address)],
            &[
                &format!("{}.{}", opts.host_name, opts.realm.to_ascii_lowercase()),
                "localhost",
            ],
        )?;
        finish_smb_conf(&dc, &tls)?;
        ensure_dir(&dc.join("run"))?;
        ensure_dir(&dc.join("log"))?;
        write_private(&dir.path().join("admin.pw"), opts.admin_password.as_bytes())?;

        let mut me = SambaDc {
            opts,
            process: None,
            tls,
            dir,
            _addr_lock: addr_lock,
            timings,
        };
        me.spawn()?;
        Ok(me)
    }

    fn spawn(&mut self) -> Result<()> {
        let addr = self.opts.address;
        if port_open(addr, 389) {
            bail!(
                "something already listens on {addr}:389 (another directory server?); \
                 SambaDc needs ports 389/636 of its address"
            );
        }
        let conf = self.dc_dir().join("etc/smb.conf");
        let started = Instant::now();
        let mut p = ServerProcess::spawn(
            "samba",
            Command::new("samba").args(["-i", "-s"]).arg(&conf),
            &self.log_path(),
            self.dir.path(),
            Duration::from_secs(15),
        )?;
        let r = wait_until(
            self.opts.start_timeout,
            Duration::from_millis(100),
            || {
                p.exited()
                    .map(|st| format!("samba exited during start ({st})"))
            },
            || {
                let out = self
                    .client("ldapsearch")
                    .args(["-s", "base", "-b", "", "(objectClass=*)", "1.1"])
                    .stdin(std::process::Stdio::null())
                    .output()?;
                Ok(out.status.success())
            },
        );
        if let Err(e) = r {
            drop(p);
            return Err(e.context(format!(
                "samba did not answer an LDAP bind on {addr}; output tail:\n{}",
                read_tail(&self.log_path(), 6000)
            )));
        }
        self.timings.start = started.elapsed();
        self.process = Some(p);
        Ok(())
    }

    /// Stops samba (SIGTERM to its process group; SIGKILL after 15 s). The data stays.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Starts samba again on the same directory (1-4 s).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// The provisioned directory (`etc/smb.conf`, `private/sam.ldb`, `tls/`, ...).
    pub fn dc_dir(&self) -> PathBuf {
        self.dir.path().join("dc")
    }
    /// samba's stdout/stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("samba.out")
    }
    pub fn address(&self) -> Ipv4Addr {
        self.opts.address
    }
    /// `ldap://ADDR` (port 389; StartTLS works).
    pub fn url(&self) -> String {
        format!("ldap://{}", self.opts.address)
    }
    /// `ldaps://ADDR` (port 636).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}", self.opts.address)
    }
    /// CA of the DC's TLS certificate (SAN: the address, `<host>.<realm>`, `localhost`).
    pub fn ca_cert_path(&self) -> &Path {
        &self.tls.ca_cert
    }
    pub fn tls(&self) -> &TlsFiles {
        &self.tls
    }
    pub fn realm(&self) -> &str {
        &self.opts.realm
    }
    /// The DNS domain, lower case (`usersync.test`).
    pub fn dns_domain(&self) -> String {
        self.opts.realm.to_ascii_lowercase()
    }
    pub fn netbios_domain(&self) -> &str {
        &self.opts.domain
    }
    /// `DC=usersync,DC=test`.
    pub fn base_dn(&self) -> String {
        self.dns_domain()
            .split('.')
            .map(|p| format!("DC={p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
    /// `CN=Users,<base>`: where [`SambaDc::add_users`] and [`SambaDc::add_group`] put entries.
    pub fn users_dn(&self) -> String {
        format!("CN=Users,{}", self.base_dn())
    }
    pub fn admin_dn(&self) -> String {
        format!("CN=Administrator,{}", self.users_dn())
    }
    /// `Administrator@usersync.test` (binds work with the UPN or the DN).
    pub fn admin_upn(&self) -> String {
        format!("Administrator@{}", self.dns_domain())
    }
    pub fn admin_password(&self) -> &str {
        &self.opts.admin_password
    }
    pub fn admin_password_file(&self) -> PathBuf {
        self.dir.path().join("admin.pw")
    }
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid())
    }
    /// The DN [`SambaDc::add_users`] gives a user (or group) named `name`.
    pub fn user_dn(&self, name: &str) -> String {
        format!("CN={},{}", escape_dn_value(name), self.users_dn())
    }

    /// An OpenLDAP client tool bound as Administrator (UPN) on [`SambaDc::url`], with
    /// `LDAPTLS_CACERT` set.
    pub fn client(&self, program: &str) -> Command {
        self.client_url(program, &self.url())
    }

    pub fn client_url(&self, program: &str, url: &str) -> Command {
        let mut c = tool(program);
        c.env("LDAPTLS_CACERT", self.ca_cert_path())
            .args(["-H", url, "-x", "-D", &self.admin_upn(), "-y"])
            .arg(self.admin_password_file());
        c
    }

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
        run_stdout(
            self.client("ldapsearch")
                .args(["-LLL", "-o", "ldif-wrap=no"])
                .args(args),
        )
    }

    /// Entries under `base` matching `filter` (paged, referrals skipped).
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

    /// Entries under `base` matching `filter` with `attrs`, paged.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<Vec<LdifEntry>> {
        let mut args = vec!["-E", "pr=1000/noprompt", "-b", base, "-s", "sub", filter];
        args.extend_from_slice(attrs);
        parse_ldif(&self.ldapsearch(&args)?)
    }

    /// The entry at `dn`, if it exists.
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
            Some(32) => Ok(None),
            _ => bail!(
                "ldapsearch -b {dn} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        }
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

impl Drop for SambaDc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `unicodePwd` value: the password in double quotes, UTF-16LE.
fn unicode_pwd(pw: &str) -> Vec<u8> {
    format!("\"{pw}\"")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

/// Takes the per-address lock (waiting for another holder), then stops any samba left over by
/// a crashed run (see `sweep_leftovers`).
fn lock_address(addr: Ipv4Addr) -> Result<File> {
    ensure_dir(Path::new(RUN_DIR))?;
    let f = File::create(Path::new(RUN_DIR).join(format!("{addr}.lock")))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("ldap-harness: waiting for another SambaDc on {addr} to stop");
            f.lock()?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    sweep_leftovers();
    Ok(f)
}

fn samba_version() -> String {
    run_stdout(Command::new("samba").arg("-V"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Returns a cache entry dir holding `dc/` and `provisioned-at`, provisioning it if needed.
fn cached_provision(
    opts: &SambaOptions,
    cache: &Path,
    timings: &mut SambaTimings,
) -> Result<PathBuf> {
    ensure_dir(cache)?;
    let key = fnv1a(
        format!(
            "v1|{}|{}|{}|{}|{}|{}",
            opts.realm,
            opts.domain,
            opts.host_name,
            opts.address,
            opts.admin_password,
            samba_version()
        )
        .as_bytes(),
    );
    let entry = cache.join(format!("{key:016x}"));
    let lock = File::create(cache.join(format!("{key:016x}.lock")))?;
    lock.lock()?;
    if entry.join("complete").exists() {
        return Ok(entry);
    }
    let _ = fs::remove_dir_all(&entry);
    // we hold the key's lock: any temp dir of this key is left over from a crashed provision
    let stale_prefix = format!("{key:016x}.tmp-");
    for e in fs::read_dir(cache)?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&stale_prefix) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    let tmp = cache.join(format!("{stale_prefix}{}", std::process::id()));
    let dc = tmp.join("dc");
    let t = Instant::now();
    provision(opts, &dc)?;
    timings.provision = t.elapsed();
    fs::write(tmp.join("provisioned-at"), dc.display().to_string())?;
    fs::write(tmp.join("complete"), "")?;
    match fs::rename(&tmp, &entry) {
        Ok(()) => Ok(entry),
        Err(e)
            if e.kind() == ErrorKind::DirectoryNotEmpty || e.kind() == ErrorKind::AlreadyExists =>
        {
            let _ = fs::remove_dir_all(&tmp);
            Ok(entry)
        }
        Err(e) => Err(e.into()),
    }
}

/// `samba-tool domain provision` into `dc` (which must not exist or be empty).
fn provision(opts: &SambaOptions, dc: &Path) -> Result<()> {
    ensure_dir(dc)?;
    let d = dc.display();
    let options = [
        format!("interfaces = {}/8", opts.address),
        "bind interfaces only = yes".to_string(),
        "server services = ldap, kdc".to_string(),
        format!("pid directory = {d}/run"),
        format!("log file = {d}/log/samba.log"),
        format!("ncalrpc dir = {d}/run/ncalrpc"),
        format!("winbindd socket directory = {d}/run/winbindd"),
        format!("ntp signd socket directory = {d}/run/ntp_signd"),
        "ldb:nosync = true".to_string(),
    ];
    let mut c = Command::new("samba-tool");
    c.args([
        "domain",
        "provision",
        "--use-rfc2307",
        "--server-role=dc",
        "--dns-backend=NONE",
    ])
    .arg(format!("--realm={}", opts.realm))
    .arg(format!("--domain={}", opts.domain))
    .arg(format!("--host-name={}", opts.host_name))
    .arg(format!("--host-ip={}", opts.address))
    .arg(format!("--adminpass={}", opts.admin_password))
    .arg(format!("--targetdir={d}"));
    for o in &options {
        c.arg(format!("--option={o}"));
    }
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .context("running samba-tool")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        bail!(
            "samba-tool domain provision failed ({}):\n{}",
            out.status,
            crate::util::tail(&log, 6000)
        );
    }
    Ok(())
}

/// Adds what provision drops or cannot know: simple binds over plain LDAP and our TLS files.
fn finish_smb_conf(dc: &Path, tls: &TlsFiles) -> Result<()> {
    let conf = dc.join("etc/smb.conf");
    let text = fs::read_to_string(&conf).with_context(|| format!("read {}", conf.display()))?;
    let extra = format!(
        "[global]\n\tldap server require strong auth = no\n\ttls enabled = yes\n\ttls keyfile = {}\n\ttls certfile = {}\n\ttls cafile = {}\n",
        tls.server_key.display(),
        tls.server_cert.display(),
        tls.ca_cert.display()
    );
    if !text.contains("[global]\n") {
        bail!("{} has no [global] section", conf.display());
    }
    fs::write(&conf, text.replacen("[global]\n", &extra, 1))?;
    Ok(())
}
