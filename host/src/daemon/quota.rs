//! Tenant run quotas (`[tenants.limits]`): runs at once and runs per hour.
//! A run refused by a quota is not started; it leaves a run record
//! (`stopped_by_quota`) that names the quota and how to raise it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::jobs::{JobState, LastRun, NextRun, RunOptions, Trigger};
use super::Daemon;
use crate::config::{JobKey, Limits};
use crate::engine::{RunMode, RunOutcome};
use crate::store::RunRecord;

/// A run a quota refused: its record's id and message.
#[derive(Debug, Clone)]
pub struct QuotaRefusal {
    pub run_id: String,
    pub message: String,
}

/// Each tenant's run starts in the last hour (this process's).
#[derive(Default)]
pub(super) struct RunWindows(Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>);

const HOUR: chrono::TimeDelta = chrono::TimeDelta::hours(1);

impl RunWindows {
    /// Count a start of `tenant` at `now` if its `per_hour` quota allows
    /// one; otherwise the time a place frees up.
    pub(super) fn admit(
        &self,
        tenant: &str,
        per_hour: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let mut windows = super::lock(&self.0);
        let starts = windows.entry(tenant.to_string()).or_default();
        while starts.front().is_some_and(|t| *t + HOUR <= now) {
            starts.pop_front();
        }
        if let Some(limit) = per_hour {
            if starts.len() >= limit as usize {
                let oldest = starts.front().copied().unwrap_or(now);
                return Err(oldest + HOUR);
            }
        }
        starts.push_back(now);
        Ok(())
    }
}

impl Daemon {
    /// Whether a quota refuses starting `key` now (called under the jobs
    /// lock, with `jobs` its map): the message, and for `runs_per_hour`
    /// when a place frees up. A start it allows is counted.
    pub(super) fn quota_refusal(
        &self,
        jobs: &HashMap<JobKey, JobState>,
        key: &JobKey,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Option<(String, Option<DateTime<Utc>>)> {
        if let Some(limit) = limits.max_concurrent_runs {
            let running = jobs
                .iter()
                .filter(|(k, s)| k.tenant == key.tenant && s.running.is_some())
                .count();
            if running >= limit as usize {
                return Some((concurrent_message(&key.tenant, limit), None));
            }
        }
        match self
            .run_windows
            .admit(&key.tenant, limits.runs_per_hour, now)
        {
            Ok(()) => None,
            Err(reopens) => Some((hourly_message(&key.tenant, limits, reopens), Some(reopens))),
        }
    }

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
        "not started: tenant {tenant:?} already has {limit} runs in progress, its quota \
         ([tenants.limits] max_concurrent_runs = {limit}). Try again when one has finished, \
         or raise max_concurrent_runs for the tenant"
    )
}

pub(super) fn hourly_message(tenant: &str, limits: &Limits, reopens: DateTime<Utc>) -> String {
    let limit = limits.runs_per_hour.unwrap_or_default();
    format!(
        "not started: tenant {tenant:?} has started {limit} runs in the last hour, its quota \
         ([tenants.limits] runs_per_hour = {limit}); the next run can start at {}. \
         Raise runs_per_hour for the tenant, or schedule its jobs less often",
        reopens.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hourly_window_admits_up_to_the_quota_and_says_when_it_frees() {
        let w = RunWindows::default();
        let t0 = Utc::now();
        assert!(w.admit("acme", Some(2), t0).is_ok());
        assert!(w
            .admit("acme", Some(2), t0 + chrono::TimeDelta::minutes(10))
            .is_ok());
        let at = t0 + chrono::TimeDelta::minutes(20);
        assert_eq!(w.admit("acme", Some(2), at), Err(t0 + HOUR));
        assert!(w.admit("globex", Some(2), at).is_ok(), "per tenant");
        assert!(
            w.admit("acme", Some(2), t0 + HOUR).is_ok(),
            "the oldest start left the window"
        );
        assert!(w.admit("acme", None, at).is_ok(), "no quota");
    }
}
