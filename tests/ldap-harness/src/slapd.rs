//! A throwaway OpenLDAP server (slapd) on loopback.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::tls::TlsFiles;
use crate::util::{
    count_dns, ensure_packages, free_port, parse_ldif, read_tail, run, run_stdout, sweep_leftovers,
    tool, wait_until, write_private, LdifEntry, ServerProcess,
};

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

/// How to start a [`Slapd`]. `SlapdOptions::default()` gives `dc=example,dc=com` with the
/// memberof and refint overlays, no syncprov, and just the base entries.
#[derive(Debug, Clone)]
pub struct SlapdOptions {
    /// Suffix of the mdb database; the root DN is `cn=admin,<suffix>`.
    pub suffix: String,
    /// Password of the root DN (stored in cleartext in cn=config: it is a throwaway server).
    pub admin_password: String,
    /// Add the syncprov overlay (RFC 4533 content synchronization).
    pub syncprov: bool,
    /// syncprov session log size (lets a refresh with a cookie report deletes as a syncIdSet
    /// instead of a present phase). `None` = no session log.
    pub syncprov_sessionlog: Option<u32>,
    /// Loopback address to listen on.
    pub address: Ipv4Addr,
    /// LDIF files loaded with `slapadd -q` before the first start, in order. Bypasses the
    /// overlays: the LDIF must carry `memberOf` itself (see [`crate::DirectorySpec::with_memberof`])
    /// and must contain the suffix entry.
    pub offline_ldif: Vec<PathBuf>,
    /// When `offline_ldif` is empty: create the suffix entry, `ou=people` and `ou=groups`.
    pub create_base: bool,
    /// `slapd -d` level: "none" (default: quiet, but errors such as a bad certificate are
    /// logged; "0" would hide them), "stats" (one line per operation), "-1" (everything).
    pub debug_level: String,
    /// How long to wait for the first successful bind.
    pub start_timeout: Duration,
    /// mdb `maxsize` in bytes (a sparse file: large is free).
    pub db_max_size: u64,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        Self {
            suffix: "dc=example,dc=com".into(),
            admin_password: "admin-secret".into(),
            syncprov: false,
            syncprov_sessionlog: Some(100_000),
            address: Ipv4Addr::LOCALHOST,
            offline_ldif: Vec::new(),
            create_base: true,
            debug_level: "none".into(),
            start_timeout: Duration::from_secs(30),
            db_max_size: 32 << 30,
        }
    }
}

impl SlapdOptions {
    pub fn suffix(mut self, s: impl Into<String>) -> Self {
        self.suffix = s.into();
        self
    }
    pub fn admin_password(mut self, s: impl Into<String>) -> Self {
        self.admin_password = s.into();
        self
    }
    pub fn syncprov(mut self, on: bool) -> Self {
        self.syncprov = on;
        self
    }
    pub fn syncprov_sessionlog(mut self, size: Option<u32>) -> Self {
        self.syncprov_sessionlog = size;
        self
    }
    pub fn address(mut self, a: Ipv4Addr) -> Self {
        self.address = a;
        self
    }
    /// Adds an LDIF file for `slapadd` before the first start.
    pub fn load_ldif_offline(mut self, path: impl Into<PathBuf>) -> Self {
        self.offline_ldif.push(path.into());
        self
    }
    pub fn create_base(mut self, on: bool) -> Self {
        self.create_base = on;
        self
    }
    pub fn debug_level(mut self, level: impl Into<String>) -> Self {
        self.debug_level = level.into();
        self
    }
    pub fn start_timeout(mut self, t: Duration) -> Self {
        self.start_timeout = t;
        self
    }
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
        let mut c = tool(program);
        c.env("LDAPTLS_CACERT", self.ca_cert_path())
            .args(["-H", url, "-x", "-D", &self.admin_dn(), "-y"])
            .arg(self.admin_password_file());
        c
    }

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

/// The first RDN of `suffix` as (attribute, value), e.g. ("dc", "example").
fn first_rdn(suffix: &str) -> Result<(String, String)> {
    let first = suffix.split(',').next().unwrap_or_default();
    let (a, v) = first
        .split_once('=')
        .ok_or_else(|| anyhow!("cannot parse suffix {suffix:?}"))?;
    Ok((a.trim().to_ascii_lowercase(), v.trim().to_string()))
}

/// LDIF of the suffix entry plus `ou=people` and `ou=groups`.
pub fn base_ldif(suffix: &str) -> Result<String> {
    let (attr, value) = first_rdn(suffix)?;
    let mut s = format!("dn: {suffix}\n");
    match attr.as_str() {
        "dc" => {
            let _ = write!(
                s,
                "objectClass: top\nobjectClass: dcObject\nobjectClass: organization\ndc: {value}\no: {value}\n"
            );
        }
        "o" => {
            let _ = write!(
                s,
                "objectClass: top\nobjectClass: organization\no: {value}\n"
            );
        }
        "ou" => {
            let _ = write!(
                s,
                "objectClass: top\nobjectClass: organizationalUnit\nou: {value}\n"
            );
        }
        other => bail!("suffix must start with dc=, o= or ou=, not {other}="),
    }
    for ou in ["people", "groups"] {
        let _ = write!(
            s,
            "\ndn: ou={ou},{suffix}\nobjectClass: top\nobjectClass: organizationalUnit\nou: {ou}\n"
        );
    }
    Ok(s)
}

fn config_ldif(opts: &SlapdOptions, root: &Path, tls: &TlsFiles) -> String {
    let d = root.display();
    let suffix = &opts.suffix;
    let admin = format!("cn=admin,{suffix}");
    let mut s = format!(
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcArgsFile: {d}/slapd.args
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}
olcLogLevel: none
olcToolThreads: 2

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/nis.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: size.soft=unlimited size.hard=unlimited size.pr=unlimited size.prtotal=unlimited
olcTimeLimit: unlimited

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {d}/data
olcSuffix: {suffix}
olcRootDN: {admin}
olcRootPW: {pw}
olcDbMaxSize: {maxsize}
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: entryUUID,entryCSN eq
olcDbIndex: uid,cn,mail eq
olcDbIndex: member,memberOf,manager eq
olcLimits: {{0}}dn.exact=\"{admin}\" size=unlimited time=unlimited
olcLimits: {{1}}* size.soft=unlimited size.hard=unlimited size.pr=unlimited size.prtotal=unlimited time=unlimited
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by * read
",
        ca = tls.ca_cert.display(),
        cert = tls.server_cert.display(),
        key = tls.server_key.display(),
        pw = opts.admin_password,
        maxsize = opts.db_max_size,
    );
    // syncprov is configured first, as usually recommended. (Whatever the order, changes the
    // memberof/refint overlays make on other entries don't get a new entryCSN, so a syncprov
    // refresh with a cookie does not report them: measured, see README.)
    let mut n = 0;
    if opts.syncprov {
        let _ = write!(
            s,
            "
dn: olcOverlay={{{n}}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{{n}}}syncprov
olcSpCheckpoint: 100 10
"
        );
        if let Some(log) = opts.syncprov_sessionlog {
            let _ = writeln!(s, "olcSpSessionlog: {log}");
        }
        n += 1;
    }
    let _ = write!(
        s,
        "
dn: olcOverlay={{{n}}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{{n}}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
olcMemberOfDangling: ignore

dn: olcOverlay={{{m}}}refint,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {{{m}}}refint
olcRefintAttribute: member
olcRefintAttribute: manager
",
        m = n + 1
    );
    s
}
