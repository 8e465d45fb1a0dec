//! Ranges of the config's numbers. Out-of-range values once reached
//! arithmetic that panicked (a 292-billion-year interval overflowed the
//! scheduler's clock), so every number is checked at load, with one error
//! naming the dotted key and the range. (`[limits]` are checked with the
//! runtime's own rules.)

use std::fmt::Display;

use anyhow::{bail, Result};

use super::Config;

/// Longest schedule interval: a year.
pub const MAX_INTERVAL_SECONDS: u64 = 365 * 24 * 3600;
/// Most retries of one failed run.
pub const MAX_RETRY_ATTEMPTS: u32 = 100;
/// Longest first retry wait: a day.
pub const MAX_RETRY_INITIAL_SECONDS: f64 = 24.0 * 3600.0;
/// Longest retry wait: a week.
pub const MAX_RETRY_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// Longest time between full runs: a year (0: every run reads in full).
pub const MAX_FULL_EVERY_HOURS: f64 = 365.0 * 24.0;
/// Longest shutdown grace: an hour.
pub const MAX_SHUTDOWN_GRACE_SECONDS: u64 = 3600;
/// Most runs at once in one daemon.
pub const MAX_CONCURRENT_RUNS: u32 = 1024;
/// Longest job lease: an hour.
pub const MAX_LEASE_SECONDS: u64 = 3600;
/// Longest LDAP connect/operation timeout: an hour.
pub const MAX_LDAP_TIMEOUT_SECONDS: f64 = 3600.0;
/// A cron schedule must fire within this many years.
pub const CRON_HORIZON_YEARS: i32 = 5;

/// `value` within `[lo, hi]` (NaN never is); the error names `key` and the range.
pub fn check_range<T: PartialOrd + Display>(key: &str, value: T, lo: T, hi: T) -> Result<()> {
    if !(value >= lo && value <= hi) {
        bail!("{key} = {value} is out of range: use a value from {lo} to {hi}");
    }
    Ok(())
}

/// A float key that must be above 0 and at most `hi`.
pub fn check_positive(key: &str, value: f64, hi: f64) -> Result<()> {
    if !(value > 0.0 && value <= hi) {
        bail!("{key} = {value} is out of range: use a number above 0 and at most {hi}");
    }
    Ok(())
}

/// Numbers outside a job's schedule, retry and connection tables.
pub(super) fn validate(config: &Config) -> Result<()> {
    let mut tenants = std::collections::HashSet::new();
    for (t, tenant) in config.tenants.iter().enumerate() {
        if !tenants.insert(tenant.id.as_str()) {
            bail!(
                "tenants[{t}].id = {:?} is used twice; every [[tenants]] entry needs its own id",
                tenant.id
            );
        }
        if tenant.id.trim().is_empty() {
            bail!("tenants[{t}].id is empty; give the tenant a name");
        }
    }
    for (i, job) in config.jobs.iter().enumerate() {
        check_range(
            &format!("jobs[{i}].sync.full_every_hours"),
            job.sync.full_every_hours,
            0.0,
            MAX_FULL_EVERY_HOURS,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn error_of(text: &str) -> String {
        format!(
            "{:#}",
            Config::parse(text, "t.toml", "/tmp".into()).unwrap_err()
        )
    }

    fn job_error(extra: &str) -> String {
        error_of(&format!("[[jobs]]\nid = \"j\"\nconnector = \"c\"\n{extra}"))
    }

    #[test]
    fn every_number_is_bounded_and_the_error_names_key_and_range() {
        let cases = [
            (
                "interval_seconds = 9223372036854775807",
                "jobs[0].interval_seconds",
            ),
            ("interval_seconds = 0", "jobs[0].interval_seconds"),
            (
                "[jobs.retry]\nattempts = 4000000000",
                "jobs[0].retry.attempts",
            ),
            (
                "[jobs.retry]\ninitial_seconds = -1",
                "jobs[0].retry.initial_seconds",
            ),
            (
                "[jobs.retry]\ninitial_seconds = nan",
                "jobs[0].retry.initial_seconds",
            ),
            (
                "[jobs.retry]\ninitial_seconds = 1e30\nmax_seconds = 1e31",
                "jobs[0].retry.initial_seconds",
            ),
            (
                "[jobs.retry]\nmax_seconds = inf",
                "jobs[0].retry.max_seconds",
            ),
            (
                "[jobs.retry]\ninitial_seconds = 60\nmax_seconds = 10",
                "jobs[0].retry.max_seconds",
            ),
            (
                "[jobs.sync]\nfull_every_hours = -1",
                "jobs[0].sync.full_every_hours",
            ),
            (
                "[jobs.sync]\nfull_every_hours = 1e30",
                "jobs[0].sync.full_every_hours",
            ),
            (
                "[jobs.ldap]\nurl = \"ldap://h\"\ntimeout_seconds = 1e30",
                "jobs[0].ldap.timeout_seconds",
            ),
        ];
        for (extra, key) in cases {
            let e = job_error(extra);
            assert!(
                e.contains(key) && e.contains("out of range"),
                "{extra}: {e}"
            );
        }
        let e = error_of("[server]\nshutdown_grace_seconds = 9223372036854775807");
        assert!(
            e.contains("server.shutdown_grace_seconds") && e.contains("0 to 3600"),
            "{e}"
        );
        let e = error_of("[server]\nlease_seconds = 0");
        assert!(
            e.contains("server.lease_seconds") && e.contains("2 to 3600"),
            "{e}"
        );
        let e = error_of("[server]\nlease_seconds = 10\nlease_heartbeat_seconds = 9");
        assert!(
            e.contains("server.lease_heartbeat_seconds") && e.contains("1 to 5"),
            "{e}"
        );
        assert!(Config::parse(
            "[[jobs]]\nid = \"j\"\nconnector = \"c\"\ninterval_seconds = 31536000\n[jobs.retry]\nattempts = 0\n",
            "t", "/tmp".into()
        ).is_ok());
    }

    #[test]
    fn a_cron_that_never_fires_is_refused() {
        let e = job_error("schedule = \"0 0 31 2 *\"");
        assert!(
            e.contains("jobs[0].schedule") && e.contains("never fires"),
            "{e}"
        );
        let e = job_error("schedule = \"0 0 30 2 *\"");
        assert!(e.contains("never fires"), "{e}");
        // Leap days fire within the horizon.
        assert!(Config::parse(
            "[[jobs]]\nid = \"j\"\nconnector = \"c\"\nschedule = \"0 0 29 2 *\"\n",
            "t",
            "/tmp".into()
        )
        .is_ok());
    }

    #[test]
    fn a_tenant_id_used_twice_is_refused() {
        let e = error_of("[[tenants]]\nid = \"acme\"\n[[tenants]]\nid = \"acme\"\n");
        assert!(e.contains("tenants[1].id = \"acme\" is used twice"), "{e}");
    }

    #[test]
    fn a_store_url_of_an_unknown_database_names_the_two_that_work() {
        let e = error_of("[store]\nurl = \"mysql://app:hunter2@db/usersync\"\n");
        assert!(
            e.contains("SQLite or PostgreSQL")
                && e.contains("sqlite://usersync.db")
                && e.contains("postgres://"),
            "{e}"
        );
        assert!(e.contains("\"mysql\""), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_postgres_store_url_is_accepted() {
        assert!(Config::parse(
            "[store]\nurl = \"postgres://app:hunter2@db/usersync\"\n",
            "t",
            "/tmp".into()
        )
        .is_ok());
    }
}
