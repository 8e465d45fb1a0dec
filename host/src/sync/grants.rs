//! What a job's connector may reach, from the job's config.

use std::collections::BTreeMap;

use crate::config::{Config, Credential, JobConfig};
use crate::runtime::Grant;

/// What a job's connector may reach: its input folder and HTTP origins.
pub(super) fn grant(config: &Config, job: &JobConfig) -> Grant {
    Grant {
        input_dir: job.grants.input_dir.as_ref().map(|d| config.resolve(d)),
        http: job.grants.http.clone(),
        http_ca_file: job.grants.http_ca_file.as_ref().map(|f| config.resolve(f)),
        http_credentials: http_credentials(job),
        ldap: job.ldap.clone().map(|mut l| {
            l.ca_file = l.ca_file.map(|f| config.resolve(&f));
            l
        }),
    }
}

/// The job's `[jobs.credentials]`, plus each `secrets` entry as a bearer
/// token under its name (a credential of the same name wins).
fn http_credentials(job: &JobConfig) -> BTreeMap<String, Credential> {
    let mut creds = job.credentials.clone();
    for (name, secret) in &job.secrets {
        creds
            .entry(name.clone())
            .or_insert_with(|| Credential::bearer(secret.clone()));
    }
    creds
}
