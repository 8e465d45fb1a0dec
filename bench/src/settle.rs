//! Waiting for slapd to finish the work a change set leaves behind. After `ldapmodify` returns,
//! the memberof and refint overlays go on rewriting the groups renamed and deleted users were
//! in (at 100k users, 50k-member groups, for minutes), on the same two cores usersync is timed
//! on. An incremental run measured meanwhile shares the machine with that work, so the bench
//! waits, bounded, for slapd to be idle first and says how long it waited.

use std::time::{Duration, Instant};

/// The longest wait; past it the run is measured anyway, and the bench says so.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// slapd is idle when it used less than this share of a core over one poll.
const IDLE_SHARE: f64 = 0.05;
const POLL: Duration = Duration::from_secs(1);

/// CPU seconds `pid` has used (Linux `/proc`), or `None` where that cannot be read.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// How the wait ended.
pub struct Settled {
    pub waited: Duration,
    pub idle: bool,
}

/// Poll slapd's CPU time until it stays nearly still for one poll, at most [`MAX_WAIT`].
pub fn wait_for_idle(pid: Option<u32>) -> Settled {
    let started = Instant::now();
    let Some(pid) = pid else {
        return Settled {
            waited: Duration::ZERO,
            idle: false,
        };
    };
    let mut last = cpu_seconds(pid);
    while started.elapsed() < MAX_WAIT {
        std::thread::sleep(POLL);
        let now = cpu_seconds(pid);
        match (last, now) {
            (Some(a), Some(b)) if b - a < IDLE_SHARE * POLL.as_secs_f64() => {
                return Settled {
                    waited: started.elapsed(),
                    idle: true,
                }
            }
            (_, None) => break,
            _ => last = now,
        }
    }
    Settled {
        waited: started.elapsed(),
        idle: false,
    }
}
