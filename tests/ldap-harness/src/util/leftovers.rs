//! Leftover servers of crashed runs: a registry of running servers and a sweep that stops the
//! orphans.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::files::ensure_dir;

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
            n.starts_with("usersync-slapd-")
                || n.starts_with("usersync-samba-")
                || n.starts_with("usersync-postgres-")
        });
        if ours {
            let _ = fs::remove_dir_all(&dir);
        }
        let _ = fs::remove_file(e.path());
    }
}
