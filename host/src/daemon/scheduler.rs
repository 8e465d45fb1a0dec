//! The scheduler: starts each job when its next run is due (cron schedule,
//! interval, retry or plugin request), skipping jobs that are running.
//! Sleeps until the earliest next run, or until woken (a run finished, the
//! config changed, shutdown).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::jobs::{schedule_key, scheduled_after, NextRun, RunOptions, StartError, Trigger};
use super::Daemon;
use crate::config::JobKey;

/// Re-check at least this often (clock changes, cron in local time).
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub(super) async fn run(daemon: Arc<Daemon>) {
    while !daemon.shutting_down() {
        let due = plan(&daemon);
        for (job, trigger) in due.due {
            match daemon.start_run(&job, trigger, RunOptions::default()) {
                Ok(r) => {
                    tracing::info!(tenant = job.tenant, job = job.job, run = %r.run_id, %trigger, "run started")
                }
                // A manual run got there first; its end schedules the next.
                Err(StartError::AlreadyRunning(_)) => {}
                Err(StartError::ShuttingDown) => return,
                Err(StartError::UnknownJob(e)) => {
                    tracing::warn!(tenant = job.tenant, job = job.job, "{e}")
                }
            }
        }
        let sleep = due
            .earliest
            .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = daemon.wake.notified() => {}
        }
    }
}

struct Due {
    due: Vec<(JobKey, Trigger)>,
    earliest: Option<chrono::DateTime<Utc>>,
}

/// Bring job states in line with the config in force, take the jobs that
/// are due, and find the earliest next run of the others.
fn plan(daemon: &Daemon) -> Due {
    let config = daemon.host.config();
    let now = Utc::now();
    let mut out = Due {
        due: Vec::new(),
        earliest: None,
    };
    let mut jobs = super::lock(&daemon.jobs);
    // Jobs removed from the config are forgotten once they are idle.
    jobs.retain(|key, s| s.running.is_some() || config.job_by_key(key).is_some());
    for job in &config.jobs {
        let state = jobs.entry(job.key()).or_default();
        let key = schedule_key(job);
        if state.schedule_key.as_ref() != Some(&key) {
            // New job, or its schedule changed: interval jobs run now,
            // cron jobs at their next time. Pending retries stay.
            let keep = matches!(&state.next, Some(n) if n.trigger != Trigger::Schedule);
            if !keep {
                state.next = if job.interval_seconds.is_some() && state.schedule_key.is_none() {
                    Some(NextRun {
                        at: now,
                        trigger: Trigger::Schedule,
                    })
                } else {
                    scheduled_after(job, now)
                };
            }
            state.schedule_key = Some(key);
        }
        let Some(next) = &state.next else { continue };
        // `start_run` clears `next` as it marks the job running.
        if next.at <= now && state.running.is_none() {
            out.due.push((job.key(), next.trigger));
        } else if state.running.is_none() {
            out.earliest = Some(out.earliest.map_or(next.at, |e| e.min(next.at)));
        }
    }
    out
}
