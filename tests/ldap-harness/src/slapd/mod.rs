//! A throwaway OpenLDAP server (slapd) on loopback.

mod config;
mod ops;
mod options;

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use tempfile::TempDir;

use crate::tls::TlsFiles;
use crate::util::{
    ensure_packages, free_port, read_tail, run, sweep_leftovers, wait_until, write_private,
    ServerProcess,
};

pub use config::base_ldif;
use config::config_ldif;
pub use options::SlapdOptions;

/// Packages and the files that show they are installed.
const SLAPD_FILES: &[&str] = &[
    "/usr/sbin/slapd",
    "/usr/sbin/slapadd",
    "/usr/lib/ldap/back_mdb.so",
    "/usr/lib/ldap/memberof.so",
    "/usr/lib/ldap/refint.so",
    "/usr/lib/ldap/syncprov.so",
    "/etc/ldap/schema/inetorgperson.ldif",
    "/usr/bin/ldapsearch",
    "/usr/bin/ldapadd",
    "/usr/bin/ldapmodify",
    "/usr/bin/ldapmodrdn",
    "/usr/bin/ldapdelete",
    "/usr/bin/ldapwhoami",
];
const SLAPD_PACKAGES: &[&str] = &["slapd", "ldap-utils"];

/// Installs `slapd` and `ldap-utils` if they are missing (see [`crate::ensure_packages`]) and
/// makes sure no system slapd started by the package is left running.
pub fn ensure_slapd_installed() -> Result<()> {
    let was_missing = SLAPD_FILES.iter().any(|p| !Path::new(p).exists());
    ensure_packages(SLAPD_FILES, SLAPD_PACKAGES)?;
    if was_missing {
        // policy-rc.d normally keeps the package's service from starting; if one did start
        // anyway (a policy-rc.d that allows it), stop it: tests never use port 389.
        for pid_file in ["/run/slapd/slapd.pid", "/var/run/slapd/slapd.pid"] {
            if Path::new(pid_file).exists() {
                let _ = run(Command::new("service").args(["slapd", "stop"]));
                break;
            }
        }
    }
    Ok(())
}

/// A running throwaway slapd. Dropping it stops the server and removes its directory.
pub struct Slapd {
    opts: SlapdOptions,
    // `process` is declared before `dir` so the server stops before its files go away.
    process: Option<ServerProcess>,
    ldap_port: u16,
    ldaps_port: u16,
    tls: TlsFiles,
    dir: TempDir,
    /// How long the last (re)start took, from spawning slapd to the first successful bind.
    pub last_start: Duration,
}

impl Slapd {
    /// A new slapd serving `spec`'s generated directory, loaded offline with
    /// `slapadd` (fast, but it bypasses overlays: give `spec` its memberOf).
    pub fn start_generated(spec: &crate::DirectorySpec, opts: SlapdOptions) -> Result<Self> {
        let tmp = tempfile::tempdir()?;
        let ldif = tmp.path().join("directory.ldif");
        crate::write_directory(&ldif, spec)?;
        Slapd::start(opts.load_ldif_offline(&ldif))
    }

    /// Installs slapd if needed, writes a cn=config and the base entries (or loads
    /// `opts.offline_ldif`), generates TLS certificates, picks two free ports and starts
    /// `slapd -h "ldap://ADDR:P/ ldaps://ADDR:Q/"`, returning once an admin bind works.
    pub fn start(opts: SlapdOptions) -> Result<Self> {
        ensure_slapd_installed()?;
        sweep_leftovers();
        let dir = tempfile::Builder::new()
            .prefix("usersync-slapd-")
            .tempdir()
            .context("creating slapd's temp dir")?;
        let root = dir.path();
        let tls = TlsFiles::generate(
            &root.join("tls"),
            "usersync slapd test CA",
            &unique_ips(opts.address),
            &["localhost"],
        )?;
        fs::create_dir_all(root.join("slapd.d"))?;
        fs::create_dir_all(root.join("data"))?;
        write_private(&root.join("admin.pw"), opts.admin_password.as_bytes())?;
        let config = config_ldif(&opts, root, &tls);
        fs::write(root.join("config.ldif"), &config)?;
        run(Command::new("slapadd")
            .args(["-n0", "-F"])
            .arg(root.join("slapd.d"))
            .arg("-l")
            .arg(root.join("config.ldif")))
        .context("slapadd -n0: writing cn=config")?;

        let mut me = Slapd {
            opts,
            process: None,
            ldap_port: 0,
            ldaps_port: 0,
            tls,
            dir,
            last_start: Duration::ZERO,
        };
        if me.opts.offline_ldif.is_empty() {
            if me.opts.create_base {
                let base = base_ldif(&me.opts.suffix)?;
                let path = me.dir.path().join("base.ldif");
                fs::write(&path, base)?;
                me.slapadd(&path)?;
            }
        } else {
            for f in me.opts.offline_ldif.clone() {
                me.slapadd(&f)?;
            }
        }
        me.spawn_with_free_ports()?;
        Ok(me)
    }

    fn spawn_with_free_ports(&mut self) -> Result<()> {
        let mut last = None;
        for _attempt in 0..5 {
            self.ldap_port = free_port(self.opts.address)?;
            self.ldaps_port = free_port(self.opts.address)?;
            if self.ldap_port == self.ldaps_port {
                continue;
            }
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let log = read_tail(&self.log_path(), 4000);
                    // another process took the port between our probe and slapd's bind: retry
                    if log.contains("Address already in use") {
                        last = Some(e);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("could not find free ports")))
    }

    fn spawn(&mut self) -> Result<()> {
        let root = self.dir.path().to_path_buf();
        let urls = format!("{}/ {}/", self.ldap_url(), self.ldaps_url());
        let started = Instant::now();
        let mut p = ServerProcess::spawn(
            "slapd",
            Command::new("slapd")
                .args(["-d", &self.opts.debug_level, "-h", &urls, "-F"])
                .arg(root.join("slapd.d")),
            &self.log_path(),
            self.dir.path(),
            Duration::from_secs(10),
        )?;
        let result = wait_until(
            self.opts.start_timeout,
            Duration::from_millis(20),
            || {
                p.exited()
                    .map(|st| format!("slapd exited during start ({st})"))
            },
            || {
                let out = self
                    .client("ldapwhoami")
                    .stdin(std::process::Stdio::null())
                    .output()?;
                Ok(out.status.success())
            },
        );
        if let Err(e) = result {
            drop(p);
            return Err(e.context(format!(
                "slapd did not come up on {urls}; its log ({}):\n{}",
                self.log_path().display(),
                read_tail(&self.log_path(), 6000)
            )));
        }
        self.last_start = started.elapsed();
        self.process = Some(p);
        Ok(())
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s). The data stays.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Starts the server again on the same ports (after [`Slapd::stop`] or to restart it).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// Stops the server, loads `path` with `slapadd -q` (bypassing the overlays: `memberOf`
    /// must be in the LDIF) and starts it again on the same ports.
    pub fn load_ldif_offline(&mut self, path: &Path) -> Result<()> {
        self.stop();
        self.slapadd(path)?;
        self.spawn()
    }

    fn slapadd(&self, path: &Path) -> Result<()> {
        let mut c = Command::new("slapadd");
        c.arg("-q");
        if self.opts.syncprov {
            c.arg("-w"); // update contextCSN so syncprov cookies start after the loaded data
        }
        c.arg("-F")
            .arg(self.dir.path().join("slapd.d"))
            .args(["-b", &self.opts.suffix])
            .arg("-l")
            .arg(path);
        run(&mut c).with_context(|| format!("slapadd of {}", path.display()))?;
        Ok(())
    }

    /// `ldap://ADDR:PORT` (StartTLS works on it).
    pub fn ldap_url(&self) -> String {
        format!("ldap://{}:{}", self.opts.address, self.ldap_port)
    }
    /// `ldaps://ADDR:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}:{}", self.opts.address, self.ldaps_port)
    }
    pub fn ldap_port(&self) -> u16 {
        self.ldap_port
    }
    pub fn ldaps_port(&self) -> u16 {
        self.ldaps_port
    }
    pub fn address(&self) -> Ipv4Addr {
        self.opts.address
    }
    /// The PEM CA certificate that signed the server's certificate (SAN: the address,
    /// 127.0.0.1 and `localhost`).
    pub fn ca_cert_path(&self) -> &Path {
        &self.tls.ca_cert
    }
    /// All generated TLS files (the CA key too, to sign more certificates).
    pub fn tls(&self) -> &TlsFiles {
        &self.tls
    }
    pub fn base_dn(&self) -> &str {
        &self.opts.suffix
    }
    pub fn people_dn(&self) -> String {
        format!("ou=people,{}", self.opts.suffix)
    }
    pub fn groups_dn(&self) -> String {
        format!("ou=groups,{}", self.opts.suffix)
    }
    pub fn admin_dn(&self) -> String {
        format!("cn=admin,{}", self.opts.suffix)
    }
    pub fn admin_password(&self) -> &str {
        &self.opts.admin_password
    }
    /// A file holding only the admin password (for `-y` of the ldap tools).
    pub fn admin_password_file(&self) -> PathBuf {
        self.dir.path().join("admin.pw")
    }
    /// The server's directory (config in `slapd.d/`, data in `data/`, certs in `tls/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// slapd's stderr (`-d` output and startup errors).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid())
    }
    pub fn options(&self) -> &SlapdOptions {
        &self.opts
    }

    /// An OpenLDAP client tool (`ldapsearch`, `ldapadd`, ...) with `-H <ldap_url> -x -D <admin>
    /// -y <password file>` and `LDAPTLS_CACERT` set; add your own arguments.
    pub fn client(&self, program: &str) -> Command {
        self.client_url(program, &self.ldap_url())
    }

    /// Like [`Slapd::client`] against another URL (e.g. [`Slapd::ldaps_url`]).
    pub fn client_url(&self, program: &str, url: &str) -> Command {
        crate::util::search::bound_client(
            program,
            url,
            self.ca_cert_path(),
            &self.admin_dn(),
            self.admin_password_file().as_ref(),
        )
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        // `dir` (TempDir) is removed after this, when its field drops.
    }
}

fn unique_ips(addr: Ipv4Addr) -> Vec<IpAddr> {
    let mut v = vec![IpAddr::V4(addr)];
    if addr != Ipv4Addr::LOCALHOST {
        v.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    v
}
