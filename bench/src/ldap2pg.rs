//! ldap2pg, the reference point: it synchronizes PostgreSQL roles from LDAP. Installed into a
//! throwaway virtualenv (`python3 -m venv`, `pip install ldap2pg==5.9 psycopg2-binary`; 5.9
//! is the last release on the Python package index), run against a throwaway PostgreSQL
//! cluster (initdb + pg_ctl as the `postgres` user, on a loopback port, fsync off).
//!
//! What is compared: the same directory read from the same slapd. ldap2pg makes every enabled
//! user a LOGIN role and every group a NOLOGIN role, and grants each role its groups
//! (`parent: '{memberOf.cn}'`, read from the users' and groups' `memberOf`; PostgreSQL
//! resolves nesting itself): the same users, groups and direct memberships usersync writes
//! (usersync also stores the effective, nested-resolved memberships, per-user fields and an
//! audit row per change, so it writes more). First run into an empty cluster vs usersync's
//! full sync into an empty store; second run (nothing changed) vs usersync's no-op re-sync.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ldap_harness::{ensure_packages, unused_loopback_port, Slapd};

pub const VERSION: &str = "5.9";

/// The virtualenv with ldap2pg (made once under `target/`, reused while it works).
pub fn venv(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/bench-ldap2pg-venv");
    let bin = dir.join("bin/ldap2pg");
    if bin.exists()
        && Command::new(&bin)
            .arg("--version")
            .output()?
            .status
            .success()
    {
        return Ok(bin);
    }
    // python-ldap builds from source against libldap and libsasl
    ensure_packages(
        &["/usr/include/lber.h", "/usr/include/sasl/sasl.h"],
        &["libldap2-dev", "libsasl2-dev"],
    )?;
    let _ = fs::remove_dir_all(&dir);
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    run(Command::new(dir.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("ldap2pg=={VERSION}"),
        "psycopg2-binary",
    ]))?;
    Ok(bin)
}

fn run(c: &mut Command) -> Result<String> {
    let out = c.output().with_context(|| format!("run {c:?}"))?;
    if !out.status.success() {
        bail!(
            "{c:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A throwaway PostgreSQL cluster on 127.0.0.1.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    _dir: tempfile::TempDir,
}

fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

impl Postgres {
    pub fn start() -> Result<Postgres> {
        if pg_bin().is_none() {
            ensure_packages(&["/usr/lib/postgresql"], &["postgresql"])?;
        }
        let bin = pg_bin().context("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = tempfile::Builder::new().prefix("bench-pg").tempdir()?;
        let data = dir.path().join("data");
        // SAFETY: plain libc calls on a path we own.
        let chown = |p: &Path| -> Result<()> {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(p))
            .map(|_| ())
        };
        chown(dir.path())?;
        let as_pg = |program: &Path| {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        };
        run(as_pg(&bin.join("initdb")).args(["-D"]).arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))?;
        let port = unused_loopback_port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            dir.path().display()
        );
        run(as_pg(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-w", "-l"])
            .arg(dir.path().join("log"))
            .arg("start"))?;
        Ok(Postgres {
            bin,
            data,
            port,
            _dir: dir,
        })
    }

    pub fn psql(&self, sql: &str) -> Result<String> {
        run(Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-At",
                "-p",
            ])
            .arg(self.port.to_string())
            .args(["-c", sql]))
        .map(|s| s.trim().to_string())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One ldap2pg run and what the cluster holds after it.
#[derive(Debug, Clone)]
pub struct Ldap2pgRun {
    pub wall_s: f64,
    pub login_roles: u64,
    pub group_roles: u64,
    pub memberships: u64,
}

/// ldap2pg refuses a password in a world-readable file.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

pub fn config(slapd: &Slapd) -> String {
    format!(
        r#"# written by usersync-bench
version: 5
ldap:
  uri: "{uri}"
  binddn: "{binddn}"
  password: "{password}"
postgres:
  # every role but the bootstrap superuser is ldap2pg's
  managed_roles_query: |
    SELECT 'public' UNION SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolname <> 'postgres'
sync_map:
- ldapsearch:
    base: "{groups}"
    filter: "(objectClass=groupOfNames)"
    allow_missing_attributes: [memberOf]
  role:
    name: '{{cn}}'
    options: NOLOGIN
    parent: '{{memberOf.cn}}'
- ldapsearch:
    base: "{people}"
    filter: "(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))"
    allow_missing_attributes: [memberOf]
  role:
    name: '{{uid}}'
    options: LOGIN
    parent: '{{memberOf.cn}}'
"#,
        groups = slapd.groups_dn(),
        people = slapd.people_dn(),
        uri = slapd.ldap_url(),
        binddn = slapd.admin_dn(),
        password = slapd.admin_password(),
    )
}

/// `ldap2pg --real` against `pg` with the directory in `slapd`.
pub fn sync(bin: &Path, work: &Path, slapd: &Slapd, pg: &Postgres) -> Result<Ldap2pgRun> {
    let yml = work.join("ldap2pg.yml");
    write_private(&yml, &config(slapd))?;
    let log = work.join("ldap2pg.log");
    let t = Instant::now();
    let status = Command::new(bin)
        .args(["--real", "--config"])
        .arg(&yml)
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", pg.port.to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "postgres")
        .stdout(fs::File::create(&log)?)
        .stderr(fs::File::options().append(true).open(&log)?)
        .status()?;
    let wall_s = t.elapsed().as_secs_f64();
    if !status.success() {
        let text = fs::read_to_string(&log).unwrap_or_default();
        bail!("ldap2pg failed ({status}): {}", crate::runner::tail(&text));
    }
    let count = |sql: &str| -> Result<u64> { Ok(pg.psql(sql)?.parse()?) };
    Ok(Ldap2pgRun {
        wall_s,
        login_roles: count("SELECT count(*) FROM pg_roles WHERE rolcanlogin AND rolname <> 'postgres'")?,
        group_roles: count(
            "SELECT count(*) FROM pg_roles WHERE NOT rolcanlogin AND rolname !~ '^pg_'",
        )?,
        memberships: count("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname !~ '^pg_'")?,
    })
}
