//! One measured cluster run: a fresh database in the throwaway PostgreSQL,
//! `nodes` `usersync serve` processes on it, every job an interval job that
//! is due at once, and the run records read back from the store once every
//! job has run.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use chrono::{DateTime, Utc};
use ldap_harness::Postgres;
use sqlx::{Connection, PgConnection};

/// What to run: `jobs` per tenant, `users` per job.
pub struct Scenario<'a> {
    pub name: &'a str,
    pub nodes: usize,
    pub per_node: u32,
    pub tenants: Vec<(String, usize)>,
    pub users: usize,
    pub usersync: &'a Path,
    pub timeout: Duration,
}

/// A finished run as the store recorded it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Run {
    pub tenant_id: String,
    pub job_id: String,
    pub node: Option<String>,
    pub outcome: String,
    pub started_at: String,
    pub finished_at: Option<String>,
}

impl Run {
    pub fn started(&self) -> DateTime<Utc> {
        parse(&self.started_at)
    }
    pub fn finished(&self) -> DateTime<Utc> {
        self.finished_at.as_deref().map_or_else(Utc::now, parse)
    }
}

fn parse(stamp: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(stamp).map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc))
}

/// Kills the nodes when dropped (the bench never leaves a server behind).
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// Run the scenario; the runs it recorded, one per job.
pub fn run(
    s: &Scenario,
    pg: &Postgres,
    work: &Path,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<Run>> {
    let dir = work.join(s.name);
    std::fs::create_dir_all(dir.join("data"))?;
    let url = pg.url(&pg.create_database()?);
    let expected: usize = s.tenants.iter().map(|(_, jobs)| jobs).sum();
    let config = write_sources(s, &dir)?;
    let mut nodes = Nodes(Vec::new());
    for n in 0..s.nodes {
        let path = dir.join(format!("node-{n}.toml"));
        let server = format!(
            "[store]\nurl = \"{url}\"\n[plugins]\ndir = \"plugins\"\ncache_dir = \"cache-{n}\"\n\
             [server]\nlisten = \"127.0.0.1:0\"\nnode = \"node-{n}\"\nmax_concurrent_runs = {}\n\
             lease_seconds = 30\nlease_heartbeat_seconds = 5\n{config}",
            s.per_node
        );
        std::fs::write(&path, server)?;
        let log = std::fs::File::create(dir.join(format!("node-{n}.log")))?;
        let child = Command::new(s.usersync)
            .arg("-c")
            .arg(&path)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", s.usersync.display()))?;
        nodes.0.push(child);
    }
    let started = Instant::now();
    let runs = rt.block_on(async {
        loop {
            if let Ok(runs) = finished_runs(&url).await {
                if runs.len() >= expected {
                    return Ok(runs);
                }
            }
            for (n, child) in nodes.0.iter_mut().enumerate() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "node-{n} exited ({status}); its log: {}",
                        dir.join(format!("node-{n}.log")).display()
                    );
                }
            }
            if started.elapsed() > s.timeout {
                bail!("{}: not every job ran within {:?}", s.name, s.timeout);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })?;
    drop(nodes);
    check(&runs, expected)?;
    Ok(runs)
}

/// The CSV sources and the `[[tenants]]` / `[[jobs]]` of the config.
fn write_sources(s: &Scenario, dir: &Path) -> Result<String> {
    let mut config = String::new();
    for (tenant, jobs) in &s.tenants {
        let seats = jobs * s.users + 10;
        writeln!(
            config,
            "[[tenants]]\nid = \"{tenant}\"\nlicenses = {{ standard = {seats} }}"
        )?;
        for j in 0..*jobs {
            let file = format!("{tenant}-j{j}.csv");
            write_csv(&dir.join("data").join(&file), tenant, j, s.users)?;
            writeln!(
                config,
                "[[jobs]]\nid = \"j{j}\"\ntenant = \"{tenant}\"\nconnector = \"csv\"\n\
                 mappers = [\"default-mapper\"]\ninterval_seconds = 3600\n\
                 [jobs.grants]\ninput_dir = \"data\"\n\
                 [jobs.source]\npath = \"/input/{file}\"\nid_column = \"id\"\n\
                 enabled_column = \"active\"\ngroups_column = \"groups\"\n"
            )?;
        }
    }
    Ok(config)
}

fn write_csv(path: &PathBuf, tenant: &str, job: usize, users: usize) -> Result<()> {
    let mut text = String::from("id,uid,givenName,sn,mail,active,groups\n");
    for i in 0..users {
        writeln!(
            text,
            "{i},j{job}u{i},Given{i},Family{i},j{job}u{i}@{tenant}.example,true,j{job}-staff;j{job}-team{}",
            i % 10
        )?;
    }
    Ok(std::fs::write(path, text)?)
}

async fn finished_runs(url: &str) -> Result<Vec<Run>> {
    let mut c = PgConnection::connect(url).await?;
    let runs = sqlx::query_as(
        "SELECT tenant_id, job_id, node, outcome, started_at, finished_at FROM runs WHERE outcome <> 'running'",
    )
    .fetch_all(&mut c)
    .await?;
    c.close().await?;
    Ok(runs)
}

/// Every job ran exactly once and succeeded.
fn check(runs: &[Run], expected: usize) -> Result<()> {
    let mut seen = HashSet::new();
    let mut failed = BTreeMap::new();
    for r in runs {
        ensure!(
            seen.insert((&r.tenant_id, &r.job_id)),
            "job {}/{} ran twice",
            r.tenant_id,
            r.job_id
        );
        if r.outcome != "succeeded" {
            failed.insert(format!("{}/{}", r.tenant_id, r.job_id), r.outcome.clone());
        }
    }
    ensure!(failed.is_empty(), "runs did not succeed: {failed:?}");
    ensure!(
        seen.len() == expected,
        "{} of {expected} jobs ran",
        seen.len()
    );
    Ok(())
}
