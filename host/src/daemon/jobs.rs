//! Job state and the run guard: never two runs of one job at once, what a
//! finished run means for the next one (schedule, retry with backoff, the
//! plugin's own `schedule` request), and the metrics of each run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Daemon;
use crate::config::{JobConfig, JobKey};
use crate::engine::RunOutcome;
use crate::sync::{RunAgainIn, RunReport, SyncRequest};

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The job's cron schedule or interval.
    Schedule,
    /// A retry after a failed run (exponential backoff).
    Retry,
    /// The connector asked for it through the `schedule` import.
    PluginRequest,
    /// `POST /tenants/{tenant}/jobs/{id}/run` (or `/jobs/{id}/run`).
    Api,
    /// The job's lease lapsed under another node's run (that node stopped
    /// renewing it): this node takes the job over.
    Takeover,
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trigger::Schedule => "schedule",
            Trigger::Retry => "retry",
            Trigger::PluginRequest => "plugin_request",
            Trigger::Api => "api",
            Trigger::Takeover => "takeover",
        })
    }
}

/// What one job is doing, and what it did last.
#[derive(Debug, Clone, Default)]
pub struct JobState {
    pub running: Option<Running>,
    pub next: Option<NextRun>,
    pub last: Option<LastRun>,
    /// Failed runs in a row (retries count them).
    pub failures: u32,
    /// The schedule `next` was computed from; a reload that changes it
    /// recomputes `next`.
    pub(super) schedule_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Running {
    pub run_id: String,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub dry_run: bool,
    pub full: bool,
    #[serde(skip)]
    pub(super) cancel: Arc<AtomicBool>,
    /// Phase and records read so far (the console's live view).
    #[serde(skip)]
    pub progress: Arc<crate::sync::progress::Progress>,
    #[serde(skip)]
    started: Option<Instant>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NextRun {
    pub at: DateTime<Utc>,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastRun {
    /// `None` when the run left no record (its job was removed by a
    /// reload meanwhile, or the store could not be written).
    pub run_id: Option<String>,
    pub trigger: Trigger,
    pub dry_run: bool,
    pub outcome: RunOutcome,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub message: Option<String>,
}

/// Flags of a run, as `POST .../jobs/{id}/run` takes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub full: bool,
    pub confirm_deletions: bool,
    /// The schedule slot a scheduled run is for: each slot runs once
    /// across the nodes sharing the store.
    pub slot: Option<DateTime<Utc>>,
}

/// Why a run was not started.
#[derive(Debug, Clone)]
pub enum StartError {
    UnknownJob(String),
    AlreadyRunning(Running),
    /// A tenant quota refused it; its run record says which.
    Quota(super::quota::QuotaRefusal),
    /// A scheduled run waits: its tenant has `max_concurrent_runs` runs in
    /// progress (on this node or others); it tries again shortly.
    WaitingForQuota,
    ShuttingDown,
    /// Another node's run holds the job's lease.
    HeldElsewhere(crate::store::Holder),
    /// The schedule slot already ran on another node.
    SlotDone,
    /// The store's database is unreachable; runs resume when it answers.
    StoreDown(String),
}

/// A plugin may ask for its next run between 1 s and a week from now.
const PLUGIN_REQUEST_RANGE: (u32, u32) = (1, 7 * 24 * 3600);

/// The job's next run by its schedule, strictly after `now`.
pub fn scheduled_after(job: &JobConfig, now: DateTime<Utc>) -> Option<NextRun> {
    let at = if let Some(cron) = job.cron() {
        let local = now.with_timezone(&chrono::Local);
        cron.find_next_occurrence(&local, false)
            .ok()?
            .with_timezone(&Utc)
    } else {
        // Checked: the config bounds the interval, but a clock overflow must
        // mean "no next run", never a panic in the scheduler.
        let secs = i64::try_from(job.interval_seconds?).ok()?;
        now.checked_add_signed(chrono::Duration::try_seconds(secs)?)?
    };
    Some(NextRun {
        at,
        trigger: Trigger::Schedule,
    })
}

/// What identifies a job's schedule, to notice when a reload changes it.
pub fn schedule_key(job: &JobConfig) -> String {
    format!("{:?}/{:?}", job.schedule, job.interval_seconds)
}

/// Clears the job's `running` slot even if the run task panics.
struct RunGuard {
    daemon: Arc<Daemon>,
    job: JobKey,
    running: Running,
    finished: bool,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if !self.finished {
            let err = anyhow::anyhow!("the run task stopped unexpectedly (a bug in usersync)");
            self.daemon
                .finish(&self.job, &self.running, &Err(err), true);
        }
    }
}

impl Daemon {
    /// Start a run of `job` in the background and return its run id, unless
    /// the job is already running, here or (by its lease) on another node
    /// sharing the store: never two runs of one job at once.
    pub async fn start_run(
        self: &Arc<Self>,
        job: &JobKey,
        trigger: Trigger,
        opts: RunOptions,
    ) -> Result<Running, StartError> {
        if self.shutting_down() {
            return Err(StartError::ShuttingDown);
        }
        if !self.store_up() {
            return Err(StartError::StoreDown(format!(
                "the store's database at {} is unreachable; runs resume when it answers again",
                self.host.store.location()
            )));
        }
        let config = self.host.config();
        if let Err(e) = config.job(Some(&job.tenant), &job.job) {
            return Err(StartError::UnknownJob(format!("{e:#}")));
        }
        let (running, next_before) = {
            let mut jobs = super::lock(&self.jobs);
            if let Some(r) = jobs.get(job).and_then(|s| s.running.clone()) {
                return Err(StartError::AlreadyRunning(r));
            }
            let state = jobs.entry(job.clone()).or_default();
            let running = Running {
                run_id: uuid::Uuid::new_v4().to_string(),
                trigger,
                started_at: Utc::now(),
                dry_run: opts.dry_run,
                full: opts.full,
                cancel: Arc::new(AtomicBool::new(false)),
                progress: Arc::default(),
                started: Some(Instant::now()),
            };
            state.running = Some(running.clone());
            // The run's end decides the next one.
            (running, state.next.take())
        };
        // In a task of its own: a caller that goes away (an API client
        // hanging up) must not leave the job reserved with no run.
        let (daemon, key, run) = (self.clone(), job.clone(), running.clone());
        tokio::spawn(async move { daemon.launch(&key, run, opts, next_before).await })
            .await
            .map_err(|e| StartError::StoreDown(format!("the run could not start: {e}")))??;
        Ok(running)
    }

    /// Take the job's lease for a reserved run, then run it in the
    /// background; or, refused, undo the reservation.
    async fn launch(
        self: &Arc<Self>,
        job: &JobKey,
        running: Running,
        opts: RunOptions,
        next_before: Option<NextRun>,
    ) -> Result<(), StartError> {
        if let Err(refused) = self.take_lease(job, &running.run_id, opts.slot).await {
            return Err(self.unreserve(job, &running, opts, refused, next_before));
        }
        self.metrics.runs_in_progress.inc();
        let req = SyncRequest {
            job: job.job.clone(),
            tenant: Some(job.tenant.clone()),
            dry_run: opts.dry_run,
            full: opts.full,
            confirm_deletions: opts.confirm_deletions,
            run_id: Some(running.run_id.clone()),
            cancel: Some(running.cancel.clone()),
            lease: Some(self.claim()),
            progress: Some(running.progress.clone()),
            ..Default::default()
        };
        let mut guard = RunGuard {
            daemon: self.clone(),
            job: job.clone(),
            running: running.clone(),
            finished: false,
        };
        tokio::spawn(async move {
            // The run in a task of its own: a panic in it (a bug in usersync)
            // fails this run, with a record, and the daemon goes on.
            let host = guard.daemon.host.clone();
            let job = guard.job.clone();
            let renewal = guard
                .daemon
                .renew_while_running(&job, &guard.running.run_id);
            let run = tokio::spawn(async move {
                if std::env::var(PANIC_HOOK_VAR).is_ok_and(|j| j == req.job) {
                    panic!("{PANIC_HOOK_VAR} asked this run to panic");
                }
                host.sync(&req).await
            })
            .await;
            let result = match run {
                Ok(result) => result,
                Err(e) => {
                    let why = format!(
                        "the run stopped on an internal error (a bug in usersync: {}); the next run starts afresh",
                        panic_message(e)
                    );
                    tracing::error!(job = %job.job, tenant = %job.tenant, run = %guard.running.run_id, "{why}");
                    guard
                        .daemon
                        .record_failed_run(&job, &guard.running, &why)
                        .await;
                    Err(anyhow::anyhow!(why))
                }
            };
            // Every run of a known job is recorded, one that could not
            // start included; a job removed by a reload meanwhile is not.
            let recorded = match &result {
                Ok(_) => true,
                Err(_) => matches!(
                    guard.daemon.host.store.run(&guard.running.run_id).await,
                    Ok(Some(_))
                ),
            };
            drop(renewal);
            guard
                .daemon
                .release_lease(&guard.job, &guard.running.run_id)
                .await;
            guard.finished = true;
            guard
                .daemon
                .finish(&guard.job, &guard.running, &result, recorded);
        });
        Ok(())
    }

    /// A run that ended without recording its outcome (it panicked) is
    /// recorded as failed, so `/runs` shows it.
    async fn record_failed_run(&self, key: &JobKey, run: &Running, why: &str) {
        let record = crate::store::RunRecord {
            id: run.run_id.clone(),
            tenant_id: key.tenant.clone(),
            job_id: key.job.clone(),
            mode: if run.full {
                crate::engine::RunMode::Full
            } else {
                crate::engine::RunMode::Incremental
            },
            dry_run: run.dry_run,
            started_at: run
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            finished_at: Some(crate::store::now()),
            duration_ms: run.started.map(|s| s.elapsed().as_millis() as i64),
            outcome: crate::engine::RunOutcome::Failed,
            message: Some(why.to_string()),
            counts: None,
            errors: None,
            warnings: None,
            connector_version: None,
            mapper_versions: None,
            node: Some(self.node.clone()),
            phases: None,
        };
        if let Err(e) = self.host.store.fail_unfinished_run(&record).await {
            tracing::error!(job = %key.job, run = %run.run_id, "could not record the failed run: {e:#}");
        }
    }

    /// Record a finished run and decide when the job runs next.
    fn finish(
        &self,
        key: &JobKey,
        run: &Running,
        result: &anyhow::Result<RunReport>,
        recorded: bool,
    ) {
        let now = Utc::now();
        let cancelled = run.cancel.load(Ordering::Relaxed) && result.is_err();
        let (outcome, message, run_again_in) = match result {
            Ok(r) => (r.run.outcome, r.run.message.clone(), r.run_again_in),
            Err(e) => (
                if cancelled {
                    RunOutcome::Cancelled
                } else {
                    RunOutcome::Failed
                },
                Some(format!("{e:#}")),
                e.downcast_ref::<RunAgainIn>().map(|r| r.0),
            ),
        };
        match result {
            Ok(r) if r.run.outcome == RunOutcome::Succeeded => {
                tracing::info!(tenant = key.tenant, job = key.job, run = %run.run_id, outcome = %outcome, "run finished")
            }
            _ => tracing::warn!(
                tenant = key.tenant,
                job = key.job,
                run = %run.run_id,
                outcome = %outcome,
                "run finished: {}",
                message.as_deref().unwrap_or("")
            ),
        }
        self.metrics
            .run_finished(key, outcome.as_str(), run.started.map(|s| s.elapsed()));
        if let Ok(report) = result {
            self.metrics.records(&report.run, report);
            if report.run.dry_run {
                self.dry_runs.keep(&run.run_id, &key.job, &report.plan);
            }
            self.dry_runs.note_read(key, run.progress.users());
        }
        self.metrics.runs_in_progress.dec();

        let config = self.host.config();
        let job = config.job_by_key(key);
        let mut jobs = super::lock(&self.jobs);
        let state = jobs.entry(key.clone()).or_default();
        state.running = None;
        state.last = Some(LastRun {
            run_id: recorded.then(|| run.run_id.clone()),
            trigger: run.trigger,
            dry_run: run.dry_run,
            outcome,
            started_at: run.started_at,
            finished_at: now,
            message,
        });
        if !run.dry_run && !cancelled {
            let failed = outcome == RunOutcome::Failed;
            state.failures = if failed { state.failures + 1 } else { 0 };
            state.next = match (run_again_in, job) {
                (Some(secs), _) => {
                    let secs = secs.clamp(PLUGIN_REQUEST_RANGE.0, PLUGIN_REQUEST_RANGE.1);
                    tracing::info!(
                        tenant = key.tenant,
                        job = key.job,
                        "the plugin asked for the next run in {secs} s"
                    );
                    Some(NextRun {
                        at: after(now, Duration::from_secs(secs.into())),
                        trigger: Trigger::PluginRequest,
                    })
                }
                (None, Some(job)) if failed => match job.retry.delay(state.failures) {
                    Some(delay) => {
                        tracing::info!(
                            tenant = key.tenant,
                            job = key.job,
                            "retry {} of {} in {:.0} s",
                            state.failures,
                            job.retry.attempts,
                            delay.as_secs_f64()
                        );
                        Some(NextRun {
                            at: after(now, delay),
                            trigger: Trigger::Retry,
                        })
                    }
                    None => {
                        state.failures = 0;
                        scheduled_after(job, now)
                    }
                },
                (None, Some(job)) => scheduled_after(job, now),
                (None, None) => None,
            };
            state.schedule_key = job.map(schedule_key);
        }
        drop(jobs);
        self.run_ended.notify_waiters();
        self.wake.notify_one();
    }

    /// Ask every run in flight to stop at its next batch; returns how many.
    pub(super) fn cancel_all(&self) -> usize {
        let jobs = super::lock(&self.jobs);
        jobs.values()
            .filter_map(|s| s.running.as_ref())
            .inspect(|r| r.cancel.store(true, Ordering::Relaxed))
            .count()
    }

    pub(super) fn running_count(&self) -> usize {
        let jobs = super::lock(&self.jobs);
        jobs.values().filter(|s| s.running.is_some()).count()
    }

    /// Wait until no run is in flight.
    pub(super) async fn idle(&self) {
        loop {
            let ended = self.run_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.running_count() == 0 {
                return;
            }
            ended.await;
        }
    }

    /// A copy of one job's state.
    pub fn job_state(&self, job: &JobKey) -> JobState {
        let jobs = super::lock(&self.jobs);
        jobs.get(job).cloned().unwrap_or_default()
    }
}

/// `now + d`, saturating at the end of chrono's calendar instead of panicking.
pub(super) fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// For tests: a run of the job named in this variable panics inside the
/// host, to prove a panic fails only that run and the daemon goes on.
const PANIC_HOOK_VAR: &str = "USERSYNC_TEST_PANIC_JOB";

/// The text of a caught panic.
fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into()),
        Err(e) => e.to_string(),
    }
}
