//! Starting the measured `usersync` processes from a small helper process.
//!
//! Linux carries a parent's peak RSS into a forked child: `exec` folds the old address
//! space's high-water mark into the `ru_maxrss` the child reports, so a child forked from the
//! bench (which holds a generated directory and the mapper benchmark's records) would report
//! the bench's size. The helper is this same binary (`--launcher`), started first thing while
//! the bench is still small; it spawns each measured process, reaps it with `wait4` and
//! answers with its wall time, CPU time and `ru_maxrss`, one JSON line per request.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// What the helper measured for one process.
#[derive(Debug, Clone)]
pub struct Measured {
    pub exit: i32,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub max_rss_mb: f64,
}

pub struct Launcher {
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    _child: Child,
}

impl Launcher {
    /// Start the helper (call before the bench grows).
    pub fn start() -> Result<Launcher> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--launcher")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("start the launcher helper")?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Launcher {
            io: Mutex::new((stdin, stdout)),
            _child: child,
        })
    }

    /// Run `program args` with `env`, stdout and stderr to the given files.
    pub fn run(
        &self,
        program: &std::path::Path,
        args: &[String],
        env: &[(String, String)],
        stdout: &std::path::Path,
        stderr: &std::path::Path,
    ) -> Result<Measured> {
        let req = json!({
            "program": program, "args": args, "env": env, "stdout": stdout, "stderr": stderr,
        });
        let mut io = self.io.lock().expect("launcher lock");
        writeln!(io.0, "{req}")?;
        io.0.flush()?;
        let mut line = String::new();
        io.1.read_line(&mut line)?;
        let v: Value = serde_json::from_str(&line).context("launcher answer")?;
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        Ok(Measured {
            exit: v["exit"].as_i64().unwrap_or(-1) as i32,
            wall_s: v["wall_s"].as_f64().unwrap_or(f64::NAN),
            cpu_s: v["cpu_s"].as_f64().unwrap_or(f64::NAN),
            max_rss_mb: v["max_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        })
    }
}

/// The helper's loop: one request per stdin line, one answer per stdout line.
pub fn serve() -> Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let answer = match one(&line) {
            Ok(v) => v,
            Err(e) => json!({ "error": format!("{e:#}") }),
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

fn one(line: &str) -> Result<Value> {
    let req: Value = serde_json::from_str(line)?;
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut c = Command::new(s(&req["program"]));
    for a in req["args"].as_array().into_iter().flatten() {
        c.arg(s(a));
    }
    for kv in req["env"].as_array().into_iter().flatten() {
        c.env(s(&kv[0]), s(&kv[1]));
    }
    c.stdin(Stdio::null())
        .stdout(std::fs::File::create(s(&req["stdout"]))?)
        .stderr(std::fs::File::create(s(&req["stderr"]))?);
    let t = Instant::now();
    let child = c
        .spawn()
        .with_context(|| format!("run {}", s(&req["program"])))?;
    let (exit, rusage) = wait4(child.id() as libc::pid_t)?;
    let wall_s = t.elapsed().as_secs_f64();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(json!({
        "exit": exit,
        "wall_s": wall_s,
        "cpu_s": tv(rusage.ru_utime) + tv(rusage.ru_stime),
        "max_rss_kb": rusage.ru_maxrss,
    }))
}

fn wait4(pid: libc::pid_t) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it.
    let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child; the pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut rusage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4");
        }
    }
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok((exit, rusage))
}
