//! `[limits]` and `[tenants.limits]`: what one plugin instance, and one run,
//! may use, and a tenant's quotas (concurrent runs, runs per hour, users). Every number has a documented range; a value outside it is
//! refused at load time with the dotted key, so nothing downstream can
//! overflow or silently clamp it (README "Sandbox and limits").

use anyhow::{bail, Result};
use serde::Deserialize;

/// What one plugin instance (and one run's read) may use.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_mb: u64,
    /// Longest a plugin may compute without returning to the host.
    pub cpu_seconds: f64,
    /// Largest single record, batch, HTTP answer, state value or
    /// checkpoint a plugin may hand over.
    pub max_output_kb: u64,
    /// Host memory one run's read may hold: the records, groups, members,
    /// removals, rejects and state it collected (estimated heap size, not
    /// the bytes the plugin sent).
    pub max_read_mb: u64,
    /// Quota: runs of this tenant at once (unset: no quota; the daemon's
    /// `server.max_concurrent_runs` still caps all tenants together).
    pub max_concurrent_runs: Option<u32>,
    /// Quota: runs this tenant may start in any hour (unset: no quota).
    pub runs_per_hour: Option<u32>,
    /// Quota: active users this tenant may have in the store; a run that
    /// would exceed it stops before changing anything (unset: no quota).
    pub max_users: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 256,
            cpu_seconds: 10.0,
            max_output_kb: 16 * 1024,
            max_read_mb: 256,
            max_concurrent_runs: None,
            runs_per_hour: None,
            max_users: None,
        }
    }
}

/// The allowed ranges (inclusive). A wasm32 instance cannot address more
/// than 4 GiB; a CPU slice over an hour is a hung plugin, not a slow one.
pub const MEMORY_MB: (u64, u64) = (16, 4096);
pub const CPU_SECONDS: (f64, f64) = (0.01, 3600.0);
pub const MAX_OUTPUT_KB: (u64, u64) = (1, 1 << 20);
pub const MAX_READ_MB: (u64, u64) = (1, 1 << 16);
pub const MAX_CONCURRENT_RUNS: (u64, u64) = (1, 1000);
pub const RUNS_PER_HOUR: (u64, u64) = (1, 100_000);
pub const MAX_USERS: (u64, u64) = (1, 100_000_000);

impl Limits {
    /// Check every number against its range; `key` is the table's dotted
    /// path (`limits`, `tenants[1].limits`).
    pub fn validate(&self, key: &str) -> Result<()> {
        int_in(key, "memory_mb", self.memory_mb, MEMORY_MB, "MiB")?;
        let (lo, hi) = CPU_SECONDS;
        // NaN fails both comparisons, so it is refused too.
        if !(self.cpu_seconds >= lo && self.cpu_seconds <= hi) {
            bail!(
                "{key}.cpu_seconds = {} is out of range: use a number of seconds from {lo} to {hi}",
                self.cpu_seconds
            );
        }
        int_in(
            key,
            "max_output_kb",
            self.max_output_kb,
            MAX_OUTPUT_KB,
            "KiB",
        )?;
        int_in(key, "max_read_mb", self.max_read_mb, MAX_READ_MB, "MiB")?;
        let quotas = [
            (
                "max_concurrent_runs",
                self.max_concurrent_runs.map(u64::from),
                MAX_CONCURRENT_RUNS,
                "runs at once",
            ),
            (
                "runs_per_hour",
                self.runs_per_hour.map(u64::from),
                RUNS_PER_HOUR,
                "runs",
            ),
            ("max_users", self.max_users, MAX_USERS, "active users"),
        ];
        for (field, value, range, unit) in quotas {
            if let Some(v) = value {
                int_in(key, field, v, range, unit)?;
            }
        }
        Ok(())
    }
}

fn int_in(key: &str, field: &str, value: u64, (lo, hi): (u64, u64), unit: &str) -> Result<()> {
    if value < lo || value > hi {
        bail!("{key}.{field} = {value} is out of range: use {lo} to {hi} ({unit})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(l: Limits) -> String {
        format!("{:#}", l.validate("tenants[1].limits").unwrap_err())
    }

    /// Issue 11 item 7: `1e30` made every run panic, `-1` became 10 ms.
    #[test]
    fn a_config_with_absurd_tenant_limits_is_refused_at_load() {
        for (value, key) in [
            ("cpu_seconds = 1e30", "tenants[1].limits.cpu_seconds"),
            ("cpu_seconds = -1.0", "tenants[1].limits.cpu_seconds"),
            ("memory_mb = 0", "tenants[1].limits.memory_mb"),
            ("max_read_mb = 0", "tenants[1].limits.max_read_mb"),
        ] {
            let text = format!(
                "[[tenants]]\nid = \"acme\"\n[[tenants]]\nid = \"globex\"\n[tenants.limits]\n{value}\n"
            );
            let err = crate::config::Config::parse(&text, "usersync.toml", ".".into()).unwrap_err();
            let msg = format!("{err:#}");
            assert!(
                msg.contains(key) && msg.contains("out of range"),
                "{value}: {msg}"
            );
        }
        let global = "[limits]\nmax_output_kb = 0\n";
        let err = crate::config::Config::parse(global, "usersync.toml", ".".into()).unwrap_err();
        assert!(
            format!("{err:#}").contains("limits.max_output_kb = 0"),
            "{err:#}"
        );
    }

    #[test]
    fn tenant_quotas_are_bounded_with_the_dotted_key() {
        for (value, key) in [
            (
                "max_concurrent_runs = 0",
                "tenants[1].limits.max_concurrent_runs = 0",
            ),
            ("runs_per_hour = 0", "tenants[1].limits.runs_per_hour = 0"),
            ("max_users = 0", "tenants[1].limits.max_users = 0"),
            (
                "max_concurrent_runs = 100000",
                "tenants[1].limits.max_concurrent_runs",
            ),
        ] {
            let text = format!(
                "[[tenants]]\nid = \"acme\"\n[[tenants]]\nid = \"globex\"\n[tenants.limits]\n{value}\n"
            );
            let err = crate::config::Config::parse(&text, "usersync.toml", ".".into()).unwrap_err();
            let msg = format!("{err:#}");
            assert!(
                msg.contains(key) && msg.contains("out of range"),
                "{value}: {msg}"
            );
        }
        let ok = "[[tenants]]\nid = \"acme\"\n[tenants.limits]\nmax_concurrent_runs = 2\nruns_per_hour = 60\nmax_users = 500\n";
        let config = crate::config::Config::parse(ok, "usersync.toml", ".".into()).unwrap();
        let limits = config.limits_for("acme");
        assert_eq!(
            (
                limits.max_concurrent_runs,
                limits.runs_per_hour,
                limits.max_users
            ),
            (Some(2), Some(60), Some(500))
        );
    }

    #[test]
    fn defaults_are_valid() {
        Limits::default().validate("limits").unwrap();
    }

    #[test]
    fn absurd_cpu_seconds_are_refused_with_the_dotted_key_and_range() {
        for bad in [1e30, -1.0, 0.0, f64::NAN, f64::INFINITY] {
            let text = err(Limits {
                cpu_seconds: bad,
                ..Limits::default()
            });
            assert!(
                text.contains("tenants[1].limits.cpu_seconds") && text.contains("0.01 to 3600"),
                "{bad}: {text}"
            );
        }
    }

    #[test]
    fn zero_and_huge_sizes_are_refused_with_the_dotted_key() {
        let cases = [
            (
                Limits {
                    memory_mb: 0,
                    ..Limits::default()
                },
                "memory_mb",
            ),
            (
                Limits {
                    memory_mb: 1 << 40,
                    ..Limits::default()
                },
                "memory_mb",
            ),
            (
                Limits {
                    max_output_kb: 0,
                    ..Limits::default()
                },
                "max_output_kb",
            ),
            (
                Limits {
                    max_read_mb: u64::MAX,
                    ..Limits::default()
                },
                "max_read_mb",
            ),
        ];
        for (limits, key) in cases {
            let text = err(limits);
            assert!(
                text.contains(&format!("tenants[1].limits.{key}")) && text.contains("out of range"),
                "{text}"
            );
        }
    }
}
