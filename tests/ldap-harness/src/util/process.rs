//! Running tools and server processes: commands run to completion with their output quoted on
//! failure, servers spawned in their own process group, readiness polling.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::leftovers::Registration;

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

pub(crate) fn tool<S: AsRef<OsStr>>(program: S) -> Command {
    let mut c = Command::new(program);
    // never let /etc/ldap/ldap.conf or an ~/.ldaprc change what a test means (LDAPNOINIT would
    // also drop the LDAPTLS_* environment variables the harness relies on)
    c.env("LDAPCONF", "/dev/null")
        .env("LDAPRC", "usersync-ldap-harness-no-ldaprc");
    c
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
    /// Spawns `cmd` (output to `log`) and registers it with `dir` for
    /// [`sweep_leftovers`](super::sweep_leftovers).
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

    /// Send `first` to the group (e.g. SIGINT, PostgreSQL's fast shutdown:
    /// sessions are cut at once), then stop as [`Self::stop`] does.
    pub(crate) fn stop_with(&mut self, first: libc::c_int) {
        if self.exited().is_none() {
            self.kill_group(first);
        }
        self.stop();
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
