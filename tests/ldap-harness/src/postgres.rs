//! A throwaway PostgreSQL cluster on loopback: `initdb` in a temp directory, the server on a
//! free port (as the `postgres` user when running as root: PostgreSQL refuses to run as root),
//! stopped and removed when dropped. Debian's `postgresql` package is installed if missing.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::util::{
    ensure_packages, free_port, read_tail, run, sweep_leftovers, wait_until, write_private,
    ServerProcess,
};

/// The superuser the cluster is made with, and its password (loopback only, throwaway).
pub const PG_USER: &str = "usersync";
const PG_PASSWORD: &str = "usersync-test-password";

/// A running throwaway PostgreSQL. Dropping it stops the server and removes its directory.
pub struct Postgres {
    // declared before `dir` so the server stops before its files go away
    process: Option<ServerProcess>,
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    /// uid/gid the server runs as (the `postgres` user when we are root).
    owner: Option<(u32, u32)>,
    databases: AtomicU32,
}

/// The newest `/usr/lib/postgresql/<version>/bin` (what Debian's package installs).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Installs Debian's `postgresql` package unless a server is there, and returns its `bin` folder.
pub fn ensure_postgres_installed() -> Result<PathBuf> {
    if let Some(bin) = bin_dir() {
        return Ok(bin);
    }
    // No fixed path to wait for: the version is part of it. apt-get decides.
    ensure_packages(&["/usr/lib/postgresql/.usersync-none"], &["postgresql"]).or_else(|e| {
        bin_dir()
            .map(|_| ())
            .ok_or(e)
            .context("installing Debian's postgresql package")
    })?;
    bin_dir().context("postgresql is installed but no /usr/lib/postgresql/<version>/bin/initdb")
}

/// uid and gid of the `postgres` user, when we are root (PostgreSQL will not run as root).
fn server_owner() -> Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam with a valid C string; the result is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!("running as root, but there is no `postgres` user to run PostgreSQL as (Debian's postgresql package creates it)");
    }
    // SAFETY: non-null result of getpwnam.
    Ok(Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) }))
}

impl Postgres {
    /// A new cluster, started and ready (bounded wait with the server log on failure).
    pub fn start() -> Result<Postgres> {
        let bin = ensure_postgres_installed()?;
        sweep_leftovers();
        let owner = server_owner()?;
        let dir = tempfile::Builder::new()
            .prefix("usersync-postgres-")
            .tempdir()
            .context("creating PostgreSQL's temp dir")?;
        let pwfile = dir.path().join("pw");
        write_private(&pwfile, PG_PASSWORD.as_bytes())?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                PG_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
        if let Some((uid, gid)) = owner {
            initdb.uid(uid).gid(gid);
        }
        run(&mut initdb).context("initdb: making the throwaway PostgreSQL cluster")?;
        let mut me = Postgres {
            process: None,
            dir,
            bin,
            port: 0,
            owner,
            databases: AtomicU32::new(0),
        };
        me.spawn_with_free_port()?;
        Ok(me)
    }

    fn spawn_with_free_port(&mut self) -> Result<()> {
        let mut last = None;
        for _ in 0..3 {
            self.port = free_port(Ipv4Addr::LOCALHOST)?;
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e), // most likely the port was taken meanwhile
            }
        }
        Err(last.expect("tried"))
    }

    fn spawn(&mut self) -> Result<()> {
        let log = self.dir.path().join("postgres.log");
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-k")
            .arg(self.dir.path())
            // throwaway data: durability buys nothing here
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=400"]);
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        let mut process = ServerProcess::spawn(
            "postgres",
            &mut cmd,
            &log,
            self.dir.path(),
            Duration::from_secs(10),
        )?;
        let ready = wait_until(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                process
                    .exited()
                    .map(|s| format!("postgres exited ({s}) while starting"))
            },
            || Ok(self.psql("postgres", "SELECT 1").is_ok()),
        );
        if let Err(e) = ready {
            drop(process);
            return Err(e.context(format!(
                "PostgreSQL on 127.0.0.1:{} did not start; its log:\n{}",
                self.port,
                read_tail(&log, 3000)
            )));
        }
        self.process = Some(process);
        Ok(())
    }

    /// Run one SQL statement as the superuser over the local socket.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let out = run(Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", PG_USER, "-d", database])
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A new empty database; returns its name.
    pub fn create_database(&self) -> Result<String> {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(name)
    }

    /// `postgres://usersync:<password>@127.0.0.1:<port>/<database>`
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server (its files stay until drop).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Fast shutdown (`pg_ctl stop -m fast`: SIGINT): open sessions are
    /// cut at once, as when a database fails over; the files stay.
    pub fn stop_fast(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop_with(libc::SIGINT);
        }
    }

    /// Start a stopped server again on the same port, with the same data.
    pub fn start_again(&mut self) -> Result<()> {
        self.spawn()
    }

    /// Start it again on the same port, with the same data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

static SHARED: OnceLock<Mutex<Option<Postgres>>> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(m) = SHARED.get() {
        if let Ok(mut pg) = m.lock() {
            pg.take(); // stops the server and removes its directory
        }
    }
}

/// A cluster shared by the whole process (tests make a database each), started on first use
/// and stopped when the process exits.
pub fn shared_database() -> Result<String> {
    let m = SHARED.get_or_init(|| {
        let pg = Postgres::start()
            .map_err(|e| eprintln!("ldap-harness: cannot start PostgreSQL: {e:#}"))
            .ok();
        if pg.is_some() {
            // SAFETY: registering a plain extern "C" fn without arguments.
            unsafe { libc::atexit(stop_shared) };
        }
        Mutex::new(pg)
    });
    let guard = m.lock().unwrap_or_else(|e| e.into_inner());
    let pg = guard
        .as_ref()
        .context("the shared PostgreSQL did not start (see the message above)")?;
    let name = pg.create_database()?;
    Ok(pg.url(&name))
}
