//! A throwaway Samba Active Directory domain controller on a loopback address.
//!
//! Follows `shared/notes/samba-ad.md`: provision with `--use-rfc2307 --dns-backend=NONE` into a
//! private directory, everything (pid, logs, sockets) inside it, only the `ldap` and `kdc`
//! services, bound to one loopback address (ports 389/636 cannot be moved, so parallel DCs need
//! different addresses). A provisioned copy is cached under `/tmp/usersync-samba-cache` and
//! copied for each start.

mod ops;
mod options;
mod provision;

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::tls::TlsFiles;
use crate::util::{
    copy_tree, ensure_dir, ensure_packages, escape_dn_value, port_open, read_tail, sweep_leftovers,
    wait_until, write_private, ServerProcess,
};

pub use options::{SambaOptions, SambaTimings};
use provision::{cached_provision, finish_smb_conf, provision};

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

/// A running Samba AD DC. Dropping it sends SIGTERM, waits, and removes its directory.
pub struct SambaDc {
    opts: SambaOptions,
    process: Option<ServerProcess>,
    tls: TlsFiles,
    dir: TempDir,
    _addr_lock: File,
    pub timings: SambaTimings,
}

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
        crate::util::search::bound_client(
            program,
            url,
            self.ca_cert_path(),
            &self.admin_upn(),
            self.admin_password_file().as_ref(),
        )
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        self.stop();
    }
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
