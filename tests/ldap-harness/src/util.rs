//! Shared plumbing: running tools, installing Debian packages, picking ports, managing server
//! processes, base64 and LDIF helpers.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Runs a command to completion; fails with its (truncated) stdout/stderr when it exits non-zero.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", describe(cmd)))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
            describe(cmd),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 4000),
            tail(&String::from_utf8_lossy(&out.stdout), 2000)
        );
    }
    Ok(out)
}

/// Like [`run`] and returns stdout as a (lossy) string.
pub(crate) fn run_stdout(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8_lossy(&run(cmd)?.stdout).into_owned())
}

pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    let mut hide_next = false;
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if hide_next {
            s.push_str(" ***");
            hide_next = false;
            continue;
        }
        s.push(' ');
        // never echo a password given on a command line
        if a.starts_with("--adminpass=") {
            s.push_str("--adminpass=***");
        } else {
            s.push_str(&a);
        }
        hide_next = a == "-w";
    }
    s
}

/// The last `max` bytes of `s` (on a char boundary).
pub(crate) fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[...]{}", &s[start..])
}

pub(crate) fn read_tail(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(b) => tail(&String::from_utf8_lossy(&b), max),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

static APT: Mutex<()> = Mutex::new(());

/// Installs Debian `packages` (without recommends) unless every path in `needed` exists.
///
/// Services are kept from starting during the install with a temporary `/usr/sbin/policy-rc.d`
/// (exit 101) when none exists. `apt-get update` runs only if the first install attempt fails.
/// Concurrent callers (threads or processes) are serialized with a lock file.
pub fn ensure_packages(needed: &[&str], packages: &[&str]) -> Result<()> {
    let missing = || needed.iter().any(|p| !Path::new(p).exists());
    if !missing() {
        return Ok(());
    }
    let _g = APT.lock().unwrap_or_else(|e| e.into_inner());
    let lock = File::create("/tmp/usersync-ldap-harness-apt.lock")?;
    lock.lock()?;
    if !missing() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "packages {packages:?} are missing (no {:?}) and we are not root: install them with \
             `apt-get install --no-install-recommends {}`",
            needed
                .iter()
                .filter(|p| !Path::new(p).exists())
                .collect::<Vec<_>>(),
            packages.join(" ")
        );
    }
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let created_policy = if policy.exists() {
        false
    } else {
        fs::write(
            policy,
            "#!/bin/sh\n# temporary, from usersync's ldap-harness\nexit 101\n",
        )?;
        set_mode(policy, 0o755)?;
        true
    };
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    let result = install().or_else(|first| {
        eprintln!("ldap-harness: apt-get install failed, running apt-get update: {first:#}");
        run(Command::new("apt-get")
            .args(["update"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        install()
    });
    if created_policy {
        let _ = fs::remove_file(policy);
    }
    result.with_context(|| format!("installing {packages:?}"))?;
    if missing() {
        bail!("installed {packages:?} but still missing one of {needed:?}");
    }
    Ok(())
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}

pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    set_mode(path, 0o600)?;
    f.write_all(contents)?;
    Ok(())
}

/// A TCP port that was free on `addr` a moment ago (there is a small race; callers retry).
pub(crate) fn free_port(addr: Ipv4Addr) -> Result<u16> {
    let l = TcpListener::bind(SocketAddrV4::new(addr, 0))
        .with_context(|| format!("cannot bind {addr}:0"))?;
    Ok(l.local_addr()?.port())
}

/// A loopback port nothing listens on (for "unreachable server" tests; racy in theory, fine in
/// practice: the kernel does not hand the same ephemeral port out again at once).
pub fn unused_loopback_port() -> u16 {
    free_port(Ipv4Addr::LOCALHOST).expect("bind 127.0.0.1:0")
}

pub(crate) fn port_open(addr: Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddrV4::new(addr, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A server started as a child in its own process group. Dropping it sends SIGTERM to the
/// group, waits up to the grace period, then SIGKILLs the group.
pub(crate) struct ServerProcess {
    child: Child,
    grace: Duration,
    name: &'static str,
    _registration: Option<Registration>,
}

impl ServerProcess {
    /// Spawns `cmd` (output to `log`) and registers it with `dir` for [`sweep_leftovers`].
    pub(crate) fn spawn(
        name: &'static str,
        cmd: &mut Command,
        log: &Path,
        dir: &Path,
        grace: Duration,
    ) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {}", describe(cmd)))?;
        let registration = Registration::new(name, child.id(), dir)
            .map_err(|e| eprintln!("ldap-harness: cannot register {name}: {e:#}"))
            .ok();
        Ok(Self {
            child,
            grace,
            name,
            _registration: registration,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` when the process has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub(crate) fn stop(&mut self) {
        if self.exited().is_some() {
            self.kill_group(libc::SIGKILL); // leftovers of the group, if any
            return;
        }
        self.kill_group(libc::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                // give forked children of the group a moment too
                sleep(Duration::from_millis(50));
                self.kill_group(libc::SIGKILL);
                return;
            }
            sleep(Duration::from_millis(20));
        }
        eprintln!(
            "ldap-harness: {} (pid {}) ignored SIGTERM for {:?}; killing it",
            self.name,
            self.pid(),
            self.grace
        );
        self.kill_group(libc::SIGKILL);
        let _ = self.child.wait();
    }

    fn kill_group(&self, sig: libc::c_int) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's process group.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `probe` every `every` until it returns `Ok(true)`, the server dies (`dead` returns a
/// message) or `timeout` passes.
pub(crate) fn wait_until(
    timeout: Duration,
    every: Duration,
    mut dead: impl FnMut() -> Option<String>,
    mut probe: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    let mut last_err = None;
    loop {
        if let Some(msg) = dead() {
            bail!("{msg}");
        }
        match probe() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() > timeout {
            return Err(match last_err {
                Some(e) => e.context(format!("not ready after {timeout:?}")),
                None => anyhow!("not ready after {timeout:?}"),
            });
        }
        sleep(every);
    }
}

/// `cp -a src dst` (keeps xattrs, which Samba's sysvol uses).
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    run(Command::new("cp").arg("-a").arg(src).arg(dst))?;
    Ok(())
}

pub(crate) fn tool<S: AsRef<OsStr>>(program: S) -> Command {
    let mut c = Command::new(program);
    // never let /etc/ldap/ldap.conf or an ~/.ldaprc change what a test means (LDAPNOINIT would
    // also drop the LDAPTLS_* environment variables the harness relies on)
    c.env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "usersync-ldap-harness-no-ldaprc");
    c
}

/// A 64-bit FNV-1a hash: stable across Rust versions (used for cache keys).
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(crate) fn ensure_dir(p: &Path) -> Result<PathBuf> {
    fs::create_dir_all(p).with_context(|| format!("mkdir -p {}", p.display()))?;
    Ok(p.to_path_buf())
}

// ---------------------------------------------------------------------------------------------
// base64 and LDIF

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Decodes standard base64 (padding optional, whitespace ignored).
pub fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => bail!("invalid base64 character {:?}", c as char),
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// True when an LDIF value can be written as-is (RFC 2849 SAFE-STRING, no trailing space).
fn ldif_safe(v: &[u8]) -> bool {
    match v.first() {
        None => return true,
        Some(b' ' | b':' | b'<') => return false,
        _ => {}
    }
    if v.last() == Some(&b' ') {
        return false;
    }
    v.iter()
        .all(|&b| b != 0 && b != b'\n' && b != b'\r' && b < 0x80)
}

/// Appends one `name: value` line to `out`, base64-encoding (`name:: ...`) when RFC 2849 requires
/// it (non-ASCII, leading space/colon/`<`, trailing space, newlines).
pub fn ldif_line(out: &mut String, name: &str, value: impl AsRef<[u8]>) {
    let v = value.as_ref();
    out.push_str(name);
    if ldif_safe(v) {
        out.push_str(": ");
        out.push_str(std::str::from_utf8(v).expect("safe LDIF values are ASCII"));
    } else {
        out.push_str(":: ");
        out.push_str(&base64_encode(v));
    }
    out.push('\n');
}

/// Escapes an attribute value for use in a DN (RFC 4514): `Smith, John` → `Smith\, John`.
pub fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == n - 1 => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// The parent of a DN string: what follows the first unescaped comma (`cn=a\,b,dc=x` → `dc=x`).
pub fn dn_parent(dn: &str) -> Option<&str> {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => return Some(&dn[i + 1..]),
            _ => escaped = false,
        }
    }
    None
}

/// One entry of an LDIF search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdifEntry {
    /// The DN exactly as the server wrote it (servers re-escape: `\,` may come back as `\2C`).
    pub dn: String,
    /// Attribute descriptions (with options such as `;range=0-1499`) and raw values, in order.
    pub attrs: Vec<(String, Vec<u8>)>,
}

impl LdifEntry {
    /// Values of `name` (case-insensitive, options included in the name), as lossy UTF-8.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.raw_values(name)
            .into_iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    pub fn raw_values(&self, name: &str) -> Vec<&[u8]> {
        self.attrs
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn first(&self, name: &str) -> Option<String> {
        self.values(name).into_iter().next()
    }

    /// Distinct attribute descriptions, in order of first appearance.
    pub fn attr_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (n, _) in &self.attrs {
            if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
                names.push(n);
            }
        }
        names
    }
}

/// Parses `ldapsearch -LLL` style output (comments and `ref:` lines ignored, folded lines joined,
/// `::` base64 values decoded).
pub fn parse_ldif(text: &str) -> Result<Vec<LdifEntry>> {
    // unfold
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some(last) = lines.last_mut() {
                last.push_str(cont);
                continue;
            }
        }
        lines.push(line.to_string());
    }
    let mut entries = Vec::new();
    let mut cur: Option<LdifEntry> = None;
    for line in lines {
        if line.is_empty() {
            if let Some(e) = cur.take() {
                entries.push(e);
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some(colon) = line.find(':') else {
            bail!("unexpected LDIF line {line:?}");
        };
        let name = &line[..colon];
        let rest = &line[colon + 1..];
        let value = if let Some(b) = rest.strip_prefix(':') {
            base64_decode(b.trim())?
        } else {
            rest.strip_prefix(' ').unwrap_or(rest).as_bytes().to_vec()
        };
        if name.eq_ignore_ascii_case("dn") {
            if let Some(e) = cur.take() {
                entries.push(e);
            }
            cur = Some(LdifEntry {
                dn: String::from_utf8(value).context("DN is not UTF-8")?,
                attrs: Vec::new(),
            });
        } else if name.eq_ignore_ascii_case("ref") || name.eq_ignore_ascii_case("version") {
            continue;
        } else if let Some(e) = cur.as_mut() {
            e.attrs.push((name.to_string(), value));
        }
    }
    if let Some(e) = cur.take() {
        entries.push(e);
    }
    Ok(entries)
}

/// Counts entries (`dn:` lines) in unfolded ldapsearch output; referrals (`ref:`) don't count.
pub(crate) fn count_dns(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("dn:")).count()
}

// ---------------------------------------------------------------------------------------------
// Leftover servers of crashed runs

const REGISTRY: &str = "/tmp/usersync-ldap-harness-run";

/// Start time (clock ticks since boot) of a live process, to tell it from a reused pid. `None`
/// for a missing or zombie process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // fields after "(comm)" start at field 3 (state); starttime is field 22
    let mut fields = after.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// A record of a running server in `/tmp/usersync-ldap-harness-run`, removed when dropped. If
/// the owning process dies without dropping it (SIGKILL, Ctrl-C), the next harness start in any
/// process stops that server and removes its directory ([`sweep_leftovers`]).
pub(crate) struct Registration(PathBuf);

impl Registration {
    pub(crate) fn new(kind: &str, server_pid: u32, dir: &Path) -> Result<Self> {
        ensure_dir(Path::new(REGISTRY))?;
        let me = std::process::id();
        let path = Path::new(REGISTRY).join(format!("{kind}-{server_pid}"));
        fs::write(
            &path,
            format!(
                "owner={me}\nowner_start={}\nserver={server_pid}\nserver_start={}\ndir={}\n",
                start_time(me).unwrap_or(0),
                start_time(server_pid).unwrap_or(0),
                dir.display()
            ),
        )?;
        Ok(Registration(path))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Stops servers whose owning process is gone and removes their directories.
pub(crate) fn sweep_leftovers() {
    let Ok(entries) = fs::read_dir(REGISTRY) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(text) = fs::read_to_string(e.path()) else {
            continue;
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .unwrap_or("")
                .to_string()
        };
        let num = |k: &str| field(k).parse::<u64>().unwrap_or(0);
        let owner = num("owner") as u32;
        if owner != 0 && start_time(owner) == Some(num("owner_start")) {
            continue; // its owner is alive
        }
        let server = num("server") as u32;
        if server != 0 && start_time(server) == Some(num("server_start")) {
            eprintln!(
                "ldap-harness: stopping server pid {server} left over by dead process {owner}"
            );
            // SAFETY: signalling a process group the harness created (checked by start time).
            unsafe { libc::kill(-(server as libc::pid_t), libc::SIGTERM) };
            let t = Instant::now();
            while start_time(server).is_some() && t.elapsed() < Duration::from_secs(10) {
                sleep(Duration::from_millis(50));
            }
            unsafe { libc::kill(-(server as libc::pid_t), libc::SIGKILL) };
        }
        let dir = PathBuf::from(field("dir"));
        let ours = dir.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("usersync-slapd-") || n.starts_with("usersync-samba-")
        });
        if ours {
            let _ = fs::remove_dir_all(&dir);
        }
        let _ = fs::remove_file(e.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in [
            "",
            "f",
            "fo",
            "foo",
            "foob",
            "fooba",
            "foobar",
            "Zoë Ångström",
        ] {
            let e = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&e).unwrap(), s.as_bytes());
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn dn_escaping() {
        assert_eq!(escape_dn_value("Smith, John"), "Smith\\, John");
        assert_eq!(escape_dn_value(" a+b "), "\\ a\\+b\\ ");
        assert_eq!(escape_dn_value("#1"), "\\#1");
        assert_eq!(
            dn_parent("cn=Smith\\, John,cn=Users,dc=x"),
            Some("cn=Users,dc=x")
        );
        assert_eq!(dn_parent("cn=a\\\\,dc=x"), Some("dc=x"));
        assert_eq!(dn_parent("dc=x"), None);
    }

    #[test]
    fn ldif_lines_and_parse() {
        let mut s = String::new();
        ldif_line(&mut s, "dn", "cn=Zoë,dc=x");
        ldif_line(&mut s, "cn", "Zoë");
        ldif_line(&mut s, "sn", "plain");
        ldif_line(&mut s, "description", " leading");
        s.push('\n');
        assert!(s.contains("dn:: "));
        assert!(s.contains("sn: plain\n"));
        let e = parse_ldif(&s).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].dn, "cn=Zoë,dc=x");
        assert_eq!(e[0].first("CN").unwrap(), "Zoë");
        assert_eq!(e[0].first("description").unwrap(), " leading");
    }
}
