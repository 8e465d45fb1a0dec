//! Who runs a run: every run row names its owning process (host name, pid
//! and a start token), and its owner refreshes a heartbeat while it runs. A
//! starting process marks a "running" row interrupted only when its owner is
//! provably gone, never merely because some process started: a CLI sync
//! beside a daemon must not mislabel the daemon's live run.

use std::sync::OnceLock;
use std::time::Duration;

/// How often a running run refreshes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);

/// A run on another host whose heartbeat is older than this is abandoned.
pub const HEARTBEAT_STALE: Duration = Duration::from_secs(300);

/// This process, as run rows name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: u32,
    /// Tells this process apart from a later one given the same pid (boot
    /// id and start time; `None` where /proc is unavailable).
    pub token: Option<String>,
}

/// Whether the process that owns a run still exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
    /// Another host, or no way to tell here: the heartbeat decides.
    Unknown,
}

impl Owner {
    /// This process.
    pub fn current() -> &'static Owner {
        static OWNER: OnceLock<Owner> = OnceLock::new();
        OWNER.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                host: host_name(),
                pid,
                token: start_token(pid),
            }
        })
    }

    /// Whether the process `host`/`pid`/`token` still runs, as far as this
    /// process can prove.
    pub fn liveness(&self, host: &str, pid: u32, token: Option<&str>) -> Liveness {
        if host != self.host || self.token.is_none() {
            return Liveness::Unknown;
        }
        match (start_token(pid), token) {
            // No such process on this host (and /proc works: ours is there).
            (None, _) => Liveness::Dead,
            // The pid was reused by a later process.
            (Some(now), Some(then)) if now != then => Liveness::Dead,
            (Some(_), Some(_)) => Liveness::Alive,
            (Some(_), None) => Liveness::Unknown,
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// `boot id:start time` of process `pid` (Linux), or `None` if it does not
/// exist or /proc is not there.
pub fn start_token(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after its closing parenthesis; the start time is field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    let started = rest.split_whitespace().nth(19)?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    Some(format!("{}:{started}", boot.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_an_exited_one_is_dead() {
        let me = Owner::current();
        if me.token.is_none() {
            return; // no /proc here: the heartbeat decides
        }
        assert_eq!(
            me.liveness(&me.host, me.pid, me.token.as_deref()),
            Liveness::Alive
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let token = start_token(pid);
        child.wait().unwrap();
        assert_eq!(me.liveness(&me.host, pid, token.as_deref()), Liveness::Dead);
        assert_eq!(
            me.liveness(&me.host, me.pid, Some("another-boot:1")),
            Liveness::Dead,
            "a reused pid is not the owner"
        );
        assert_eq!(
            me.liveness("another-host", me.pid, me.token.as_deref()),
            Liveness::Unknown
        );
    }
}
