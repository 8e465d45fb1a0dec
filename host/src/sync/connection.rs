//! `test-connection`: the connector's own checks (TCP, TLS, bind, bases,
//! counts), then a small sample of real records read and mapped through
//! the job's mappers, to say what a sync would get wrong (usernames that
//! come out empty, records rejected, an empty source) before a real run
//! finds out. Nothing is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;

use super::grants::grant;
use super::{Collected, Host, RunParts, SyncRequest};
use crate::config::{Config, JobConfig};
use crate::model::{Check, CheckStatus, ReadMode};
use crate::runtime::{CallContext, ConnectorInstance, LoadedPlugin};

/// How many users the sample maps: enough to see a pattern, small enough
/// to answer at once on any directory.
pub const SAMPLE_USERS: usize = 20;

const STAGE: &str = "sample records mapped";

impl Host {
    /// Every stage of the connection test of `job`, in order.
    pub async fn test_connection(
        &self,
        tenant: Option<&str>,
        job: &str,
    ) -> Result<Vec<crate::model::Check>> {
        let config = self.config();
        let job = config.job(tenant, job)?.clone();
        if job.runs_on == crate::config::RunsOn::Agent {
            anyhow::bail!(
                "job {} runs on an agent (runs_on = \"agent\"): the directory is reachable only from the agent's network; run a sync and read its record, or check the agent's log",
                job.id
            );
        }
        let connector = self.plugin(&job.tenant, &job.connector, "connector")?;
        let limits = config.limits_for(&job.tenant);
        let grant = grant(&config, &job);
        let rt = self.runtime.clone();
        let plugin = connector.manifest.name.clone();
        let ctx = CallContext {
            tenant: job.tenant.clone(),
            job: job.id.clone(),
            plugin: plugin.clone(),
            version: connector.manifest.version.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        let source = job.source_json();
        let mut checks = tokio::task::spawn_blocking(move || {
            let mut instance = ConnectorInstance::new(&rt, &connector, &limits, ctx, &grant)?;
            instance.test_connection(&source)
        })
        .await??;
        self.observe(&plugin, "test-connection", started);
        // Only a source that answered can be sampled.
        if checks.iter().all(|c| c.status != CheckStatus::Failed) {
            checks.extend(self.probe_mapping(&config, &job).await);
        }
        Ok(checks)
    }

    /// Map up to [`SAMPLE_USERS`] records of `job`'s source and report
    /// what the mapping makes of them.
    pub(super) async fn probe_mapping(&self, config: &Config, job: &JobConfig) -> Vec<Check> {
        match self.read_sample(config, job).await {
            Ok(collected) => judge(&collected, &job.mappers),
            Err(e) => vec![check(
                CheckStatus::Failed,
                format!("reading a sample of records failed: {e:#}"),
            )],
        }
    }

    async fn read_sample(&self, config: &Config, job: &JobConfig) -> anyhow::Result<Collected> {
        let connector = self.plugin(&job.tenant, &job.connector, "connector")?;
        let mappers = job
            .mappers
            .iter()
            .map(|m| self.plugin(&job.tenant, m, "mappers"))
            .collect::<anyhow::Result<Vec<LoadedPlugin>>>()?;
        let req = SyncRequest {
            job: job.id.clone(),
            tenant: Some(job.tenant.clone()),
            dry_run: true,
            full: true,
            sample: Some(SAMPLE_USERS),
            ..Default::default()
        };
        let shared = Arc::new(Mutex::new(Collected::default()));
        let parts = RunParts {
            config,
            job,
            req: &req,
            connector: &connector,
            mappers: &mappers,
            mode: &ReadMode::Full,
            run_id: "connection-test",
            shared: &shared,
        };
        let (_, collected) = self
            .spawn_read(&parts, HashMap::new(), HashMap::new(), Default::default())
            .await??;
        Ok(collected)
    }
}

fn check(status: CheckStatus, detail: String) -> Check {
    Check {
        stage: STAGE.into(),
        status,
        detail,
    }
}

/// The verdict on a mapped sample.
fn judge(collected: &Collected, mappers: &[String]) -> Vec<Check> {
    let snap = &collected.snapshot;
    let users = &snap.users;
    let rejected = snap.errors.len();
    let seen = users.len() + rejected;
    let through = if mappers.is_empty() {
        "no mappers".to_string()
    } else {
        mappers.join(" → ")
    };
    if seen == 0 {
        return vec![check(
            CheckStatus::Warning,
            "the source returned no users: a sync would read nothing and be recorded as \
             `empty_read`; check the job's base DN, filter or input file"
                .into(),
        )];
    }
    let attributes = if collected.sample_attributes.is_empty() {
        String::new()
    } else {
        format!(
            "; the connector sent the attributes: {}",
            collected.sample_attributes.join(", ")
        )
    };
    let mut checks = Vec::new();
    let empty: Vec<&str> = users
        .iter()
        .filter(|u| u.fields.username.trim().is_empty())
        .map(|u| u.id.as_str())
        .collect();
    if !users.is_empty() && empty.len() == users.len() {
        checks.push(check(
            CheckStatus::Failed,
            format!(
                "every sampled user ({}) came out of {through} with an empty username: a sync \
                 would reject them all. Set the job's [jobs.mapping] `username` to an attribute \
                 the source has{attributes}",
                users.len()
            ),
        ));
    } else if !empty.is_empty() {
        checks.push(check(
            CheckStatus::Warning,
            format!(
                "{} of {} sampled users came out of {through} with an empty username and would \
                 be rejected (e.g. source id {:?}){attributes}",
                empty.len(),
                users.len(),
                empty[0]
            ),
        ));
    }
    if !users.is_empty() && users.iter().all(|u| u.fields.email.is_none()) {
        checks.push(check(
            CheckStatus::Warning,
            format!(
                "no sampled user has an email after {through}; if the application needs one, \
                 map `email` to the source's mail attribute{attributes}"
            ),
        ));
    }
    if rejected > 0 {
        let first = &snap.errors[0];
        let example = format!("e.g. {:?}: {}", first.record, first.message);
        checks.push(if users.is_empty() {
            check(
                CheckStatus::Failed,
                format!(
                    "every sampled record ({seen}) was rejected by {through}, {example}: a sync \
                     would change nothing and stop. Fix the job's [jobs.mapping]{attributes}"
                ),
            )
        } else {
            check(
                CheckStatus::Warning,
                format!("{rejected} of {seen} sampled records were rejected, {example}"),
            )
        });
    }
    if checks.is_empty() {
        checks.push(check(
            CheckStatus::Ok,
            format!(
                "{} users mapped through {through}, every one with a username (e.g. {:?})",
                users.len(),
                users[0].fields.username
            ),
        ));
    }
    checks
}
