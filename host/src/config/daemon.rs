//! The daemon's part of the config: the `[server]` table (admin API) and a
//! job's schedule and retry policy.

use std::net::SocketAddr;
use std::str::FromStr;

use anyhow::{bail, Result};
use serde::Deserialize;

use super::{bounds, JobConfig};
use crate::secret::Secret;

/// `[server]`: the admin API of `usersync serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the API listens; loopback unless you mean otherwise.
    pub listen: String,
    /// Bearer token for the API: `{ env = "VAR" }` or `{ value = "..." }`.
    /// The environment variable `USERSYNC_API_TOKEN` takes precedence.
    pub token: Option<Secret>,
    /// How long shutdown waits for runs in flight to stop.
    pub shutdown_grace_seconds: u64,
    /// Runs at once across all tenants; due jobs beyond it wait, and the
    /// free places go round-robin across tenants.
    pub max_concurrent_runs: u32,
    /// This node's name in run records, leases and metrics; `None`:
    /// `<hostname>-<pid>`. Nodes sharing one store need distinct names.
    pub node: Option<String>,
    /// How long a job's lease outlives its last renewal: a node that stops
    /// renewing (killed, cut off) loses the job to another node after this.
    pub lease_seconds: u64,
    /// How often a running job's lease is renewed (below `lease_seconds`).
    pub lease_heartbeat_seconds: u64,
    /// The key that seals secrets given through the API (a file of mode
    /// 0600 holding 32 bytes in base64 or hex); `USERSYNC_SECRET_KEY` wins.
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Where tenants made through the API keep their files: a job's
    /// `input_dir` (and CA files) must be under `<this>/<tenant>/`.
    pub tenant_files_dir: Option<std::path::PathBuf>,
    /// Network destinations jobs made through the API may name (HTTP
    /// grants, LDAP server, webhook): `scheme://host[:port]`, host may start
    /// with `*.`. Empty: none (see `config/origins.rs`).
    pub tenant_origins: Vec<String>,
    /// Serve the API over HTTPS with this certificate chain and key (PEM);
    /// agents only connect over HTTPS.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// How long an agent run waits for an agent to take it.
    pub agent_claim_seconds: u64,
    /// An agent run whose agent sends nothing (batch or beat) for this long
    /// is given up, with nothing applied.
    pub agent_timeout_seconds: u64,
    /// The largest batch an agent may send, in KiB.
    pub agent_max_batch_kb: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            token: None,
            shutdown_grace_seconds: 60,
            max_concurrent_runs: 16,
            node: None,
            lease_seconds: 30,
            lease_heartbeat_seconds: 5,
            secret_key_file: None,
            tenant_files_dir: None,
            tenant_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            agent_claim_seconds: 60,
            agent_timeout_seconds: 60,
            agent_max_batch_kb: 16 * 1024,
        }
    }
}

/// `[jobs.retry]`: failed runs are retried after `initial_seconds`, doubling
/// up to `max_seconds`, at most `attempts` times; then the job waits for its
/// next scheduled run.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub initial_seconds: f64,
    pub max_seconds: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial_seconds: 30.0,
            max_seconds: 900.0,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1-based), or `None` once the
    /// attempts are used up.
    pub fn delay(&self, attempt: u32) -> Option<std::time::Duration> {
        if attempt == 0 || attempt > self.attempts {
            return None;
        }
        // powi saturates to infinity and min() caps it; try_from never panics.
        let secs = self.initial_seconds * 2f64.powi(attempt.min(1024) as i32 - 1);
        let secs = secs.min(self.max_seconds);
        Some(std::time::Duration::try_from_secs_f64(secs).unwrap_or(
            std::time::Duration::from_secs(super::bounds::MAX_RETRY_SECONDS as u64),
        ))
    }
}

impl ServerConfig {
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "server.listen = {:?} is not an address like \"127.0.0.1:8080\"",
                self.listen
            )
        })
    }

    /// This node's name: `server.node`, else `<hostname>-<pid>`.
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            let owner = crate::store::Owner::current();
            format!("{}-{}", owner.host, owner.pid)
        })
    }

    pub(super) fn validate(&self) -> Result<()> {
        self.listen_addr()?;
        super::origins::validate_patterns(&self.tenant_origins)?;
        if let Some(node) = &self.node {
            if node.trim().is_empty() || node.len() > 128 {
                bail!("server.node = {node:?}: give the node a name of 1 to 128 characters");
            }
        }
        bounds::check_range(
            "server.lease_seconds",
            self.lease_seconds,
            2,
            bounds::MAX_LEASE_SECONDS,
        )?;
        bounds::check_range(
            "server.lease_heartbeat_seconds",
            self.lease_heartbeat_seconds,
            1,
            (self.lease_seconds / 2).max(1),
        )
        .map_err(|e| {
            e.context("the heartbeat must come at least twice per server.lease_seconds")
        })?;
        bounds::check_range(
            "server.shutdown_grace_seconds",
            self.shutdown_grace_seconds,
            0,
            bounds::MAX_SHUTDOWN_GRACE_SECONDS,
        )?;
        bounds::check_range(
            "server.max_concurrent_runs",
            self.max_concurrent_runs,
            1,
            bounds::MAX_CONCURRENT_RUNS,
        )?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!(
                "server.tls_cert and server.tls_key go together: set both (PEM files) or neither"
            );
        }
        bounds::check_range(
            "server.agent_claim_seconds",
            self.agent_claim_seconds,
            1,
            3600,
        )?;
        bounds::check_range(
            "server.agent_timeout_seconds",
            self.agent_timeout_seconds,
            3,
            3600,
        )?;
        bounds::check_range(
            "server.agent_max_batch_kb",
            self.agent_max_batch_kb,
            64,
            256 * 1024,
        )
    }
}

impl JobConfig {
    /// The job's cron schedule (checked when the config was loaded).
    pub fn cron(&self) -> Option<croner::Cron> {
        self.schedule
            .as_deref()
            .and_then(|s| croner::Cron::from_str(s).ok())
    }
}

/// Whether `cron` has an occurrence within [`bounds::CRON_HORIZON_YEARS`]
/// (`"0 0 31 2 *"` has none: February never has a 31st).
fn fires_within_horizon(cron: &croner::Cron) -> bool {
    let now = chrono::Local::now();
    let horizon = now + chrono::Duration::days(366 * i64::from(bounds::CRON_HORIZON_YEARS));
    cron.find_next_occurrence(&now, false)
        .is_ok_and(|next| next <= horizon)
}

/// Schedule and retry keys of `jobs[i]`; errors name the key and the range.
pub(super) fn validate_job(i: usize, job: &JobConfig) -> Result<()> {
    if job.schedule.is_some() && job.interval_seconds.is_some() {
        bail!("jobs[{i}]: set `schedule` (cron) or `interval_seconds`, not both");
    }
    if let Some(expr) = &job.schedule {
        let cron = match croner::Cron::from_str(expr) {
            Ok(c) => c,
            Err(e) => bail!(
                "jobs[{i}].schedule = {expr:?} is not a valid cron expression ({e}); \
                 use five fields, minute hour day-of-month month day-of-week, e.g. \"*/15 * * * *\""
            ),
        };
        if !fires_within_horizon(&cron) {
            bail!(
                "jobs[{i}].schedule = {expr:?} never fires (no time matches it in the next {} years, \
                 e.g. a day that month does not have); fix the day-of-month and month fields",
                bounds::CRON_HORIZON_YEARS
            );
        }
    }
    if let Some(secs) = job.interval_seconds {
        bounds::check_range(
            &format!("jobs[{i}].interval_seconds"),
            secs,
            1,
            bounds::MAX_INTERVAL_SECONDS,
        )?;
    }
    let r = &job.retry;
    bounds::check_range(
        &format!("jobs[{i}].retry.attempts"),
        r.attempts,
        0,
        bounds::MAX_RETRY_ATTEMPTS,
    )?;
    bounds::check_positive(
        &format!("jobs[{i}].retry.initial_seconds"),
        r.initial_seconds,
        bounds::MAX_RETRY_INITIAL_SECONDS,
    )?;
    bounds::check_range(
        &format!("jobs[{i}].retry.max_seconds"),
        r.max_seconds,
        r.initial_seconds,
        bounds::MAX_RETRY_SECONDS,
    )
    .map_err(|e| anyhow::anyhow!("{e} (at least retry.initial_seconds)"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_then_stops() {
        let r = RetryPolicy {
            attempts: 5,
            initial_seconds: 10.0,
            max_seconds: 30.0,
        };
        let secs: Vec<_> = (1..=6).map(|a| r.delay(a).map(|d| d.as_secs())).collect();
        assert_eq!(
            secs,
            [Some(10), Some(20), Some(30), Some(30), Some(30), None]
        );
    }
}

#[cfg(test)]
mod config_tests {
    use crate::config::Config;

    fn parse(job_extra: &str) -> anyhow::Result<Config> {
        Config::parse(
            &format!("[[jobs]]\nid = \"j\"\nconnector = \"c\"\n{job_extra}"),
            "test.toml",
            std::path::PathBuf::from("/tmp"),
        )
    }

    #[test]
    fn schedules_are_checked_and_errors_name_the_key() {
        assert!(parse("schedule = \"*/15 * * * *\"").is_ok());
        assert!(parse("interval_seconds = 60").is_ok());
        for bad in ["61 * * * *", "*/15 * * *", "every day", "* * 32 * *"] {
            let e = format!("{:#}", parse(&format!("schedule = {bad:?}")).unwrap_err());
            assert!(
                e.contains("jobs[0].schedule") && e.contains("cron"),
                "{bad}: {e}"
            );
        }
        let e = format!(
            "{:#}",
            parse("schedule = \"* * * * *\"\ninterval_seconds = 5").unwrap_err()
        );
        assert!(e.contains("not both"), "{e}");
        let e = format!("{:#}", parse("interval_seconds = 0").unwrap_err());
        assert!(e.contains("jobs[0].interval_seconds"), "{e}");
        let e = format!(
            "{:#}",
            parse("[jobs.retry]\ninitial_seconds = 0").unwrap_err()
        );
        assert!(e.contains("jobs[0].retry"), "{e}");
        let e = format!("{:#}", parse("[jobs.retry]\ntries = 3").unwrap_err());
        assert!(e.contains("unknown key `jobs[0].retry.tries`"), "{e}");
    }

    #[test]
    fn the_server_table_is_checked() {
        let c = Config::parse("", "t", "/tmp".into()).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        let e = Config::parse("[server]\nlisten = \"localhost\"", "t", "/tmp".into()).unwrap_err();
        assert!(format!("{e:#}").contains("server.listen"), "{e:#}");
        let c = Config::parse(
            "[server]\ntoken = { value = \"s3cret-s3cret-s3cret\" }",
            "t",
            "/tmp".into(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
