//! Tenant run quotas (`[tenants.limits]`): runs at once and runs per hour.
//! A run refused by a quota is not started; it leaves a run record
//! (`stopped_by_quota`) that names the quota and how to raise it. The
//! store counts both inside the job's lease take (`store/run_quota.rs`), so
//! every node sharing it enforces one quota per tenant, not one per node.

use chrono::{DateTime, Utc};

use super::jobs::{JobState, LastRun, NextRun, RunOptions, Trigger};
use super::Daemon;
use crate::config::{JobKey, Limits};
use crate::engine::{RunMode, RunOutcome};
use crate::store::RunRecord;
use crate::store::{QuotaHit, RunQuota};

/// A run a quota refused: its record's id and message.
#[derive(Debug, Clone)]
pub struct QuotaRefusal {
    pub run_id: String,
    pub message: String,
}

/// A tenant's run quotas as the store's lease take counts them, across
/// every node sharing the store.
pub(super) fn run_quota(limits: &Limits) -> RunQuota {
    RunQuota {
        concurrent: limits.max_concurrent_runs,
        per_hour: limits.runs_per_hour,
    }
}

/// The message of a run `hit` refused, and for `runs_per_hour` when a
/// place frees up.
pub(super) fn refusal(tenant: &str, hit: QuotaHit) -> (String, Option<DateTime<Utc>>) {
    match hit {
        QuotaHit::Concurrent { limit } => (concurrent_message(tenant, limit), None),
        QuotaHit::Hourly { limit, reopens_ms } => {
            let reopens = DateTime::from_timestamp_millis(reopens_ms).unwrap_or_else(Utc::now);
            (hourly_message(tenant, limit, reopens), Some(reopens))
        }
    }
}

impl Daemon {
    /// Note a refused run on its job (last run; a scheduled one tries
    /// again when the hour's window frees up) and record it in the store.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn refuse(
        &self,
        state: &mut JobState,
        key: &JobKey,
        trigger: Trigger,
        opts: RunOptions,
        message: String,
        reopens: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> QuotaRefusal {
        let run_id = uuid::Uuid::new_v4().to_string();
        tracing::warn!(tenant = key.tenant, job = key.job, run = %run_id, %trigger, "{message}");
        state.last = Some(LastRun {
            run_id: Some(run_id.clone()),
            trigger,
            dry_run: opts.dry_run,
            outcome: RunOutcome::StoppedByQuota,
            started_at: now,
            finished_at: now,
            message: Some(message.clone()),
        });
        if let (Some(at), false) = (reopens, trigger == Trigger::Api) {
            state.next = Some(NextRun { at, trigger });
        }
        self.metrics
            .run_finished(key, RunOutcome::StoppedByQuota.as_str(), None);
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let record = RunRecord {
            id: run_id.clone(),
            tenant_id: key.tenant.clone(),
            job_id: key.job.clone(),
            mode: if opts.full {
                RunMode::Full
            } else {
                RunMode::Incremental
            },
            dry_run: opts.dry_run,
            started_at: stamp.clone(),
            finished_at: Some(stamp),
            duration_ms: Some(0),
            outcome: RunOutcome::StoppedByQuota,
            message: Some(message.clone()),
            counts: None,
            errors: None,
            warnings: None,
            connector_version: None,
            mapper_versions: None,
            node: Some(self.node.clone()),
            phases: None,
        };
        let store = self.host.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.fail_unfinished_run(&record).await {
                tracing::error!(run = %record.id, "could not record the run a quota refused: {e:#}");
            }
        });
        QuotaRefusal { run_id, message }
    }
}

/// Why a quota refused a run: the message of its run record.
pub(super) fn concurrent_message(tenant: &str, limit: u32) -> String {
    format!(
        "not started: tenant {tenant:?} already has {limit} runs in progress (on all nodes \
         sharing the store), its quota ([tenants.limits] max_concurrent_runs = {limit}). Try again when one has finished, \
         or raise max_concurrent_runs for the tenant"
    )
}

pub(super) fn hourly_message(tenant: &str, limit: u32, reopens: DateTime<Utc>) -> String {
    format!(
        "not started: tenant {tenant:?} has started {limit} runs in the last hour (on all nodes \
         sharing the store), its quota \
         ([tenants.limits] runs_per_hour = {limit}); the next run can start at {}. \
         Raise runs_per_hour for the tenant, or schedule its jobs less often",
        reopens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}
