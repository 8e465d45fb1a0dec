//! What a job gives each plugin instance: who it runs for, its limits and
//! its grants. The bottom of the runtime: the capabilities read these, the
//! instance and the loader pass them in.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Limits;

/// Who a plugin call runs for; every log line a plugin writes carries it.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub tenant: String,
    pub job: String,
    pub run: String,
    pub plugin: String,
    pub version: String,
}

/// Host-side limits of one instance, derived from the tenant's `Limits`.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
    pub memory_bytes: usize,
    pub cpu: Duration,
    pub max_output: usize,
    pub max_read: usize,
}

impl InstanceLimits {
    /// `l` is validated at load (config/limits.rs); the conversions still
    /// saturate, so no number can overflow or panic here.
    pub fn from_config(l: &Limits) -> Self {
        let (min_cpu, max_cpu) = crate::config::limits::CPU_SECONDS;
        let cpu = if l.cpu_seconds.is_nan() {
            min_cpu
        } else {
            l.cpu_seconds.clamp(min_cpu, max_cpu)
        };
        InstanceLimits {
            memory_bytes: usize::try_from(l.memory_mb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
            cpu: Duration::from_secs_f64(cpu),
            max_output: usize::try_from(l.max_output_kb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024),
            max_read: usize::try_from(l.max_read_mb)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
        }
    }

    /// For `describe` at load time: small and short.
    pub(super) fn probe() -> Self {
        InstanceLimits {
            memory_bytes: 64 << 20,
            cpu: Duration::from_secs(2),
            max_output: 1 << 20,
            max_read: 1 << 20,
        }
    }
}

/// What the job grants its connector beyond computing.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Host folder mounted read-only at `/input`.
    pub input_dir: Option<PathBuf>,
    /// Origins (`scheme://host:port`) the plugin may reach over HTTP.
    pub http: Vec<String>,
    /// Extra trusted CA (PEM) for brokered HTTPS.
    pub http_ca_file: Option<PathBuf>,
    /// Credentials the host may add to brokered HTTP requests, by name.
    pub http_credentials: std::collections::BTreeMap<String, crate::config::Credential>,
    /// The one directory server its LDAP searches go to.
    pub ldap: Option<crate::config::LdapConnection>,
}
