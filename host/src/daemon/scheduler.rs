//! The scheduler: starts each job when its next run is due (cron schedule,
//! interval, retry or plugin request), skipping jobs that are running.
//! Due jobs share `server.max_concurrent_runs` places round-robin across
//! tenants (`fair.rs`); those left over wait for a run to end. Sleeps until
//! the earliest next run, or until woken (a run finished, the config
//! changed, shutdown).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::fair::{self, DueJob, Places};
use super::jobs::{schedule_key, scheduled_after, NextRun, RunOptions, StartError, Trigger};
use super::Daemon;
use crate::config::{JobKey, RunsOn};

/// How long a node no agent polls waits past an agent job's scheduled time.
const AGENT_GRACE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Re-check at least this often (clock changes, cron in local time).
const MAX_SLEEP: Duration = Duration::from_secs(60);

pub(super) async fn run(daemon: Arc<Daemon>) {
    while !daemon.shutting_down() {
        let heartbeat = Duration::from_secs(daemon.host.config().server.lease_heartbeat_seconds);
        if !daemon.store_up() {
            // Paused: the store watcher wakes us when the database is back.
            tokio::select! {
                _ = tokio::time::sleep(heartbeat) => {}
                _ = daemon.wake.notified() => {}
            }
            continue;
        }
        daemon.take_over_lapsed().await;
        let due = plan(&daemon);
        for job in pick(&daemon, due.due) {
            let (key, (trigger, at)) = (&job.key, job.what);
            let opts = RunOptions {
                slot: (trigger == Trigger::Schedule).then_some(at),
                ..RunOptions::default()
            };
            match daemon.start_run(key, trigger, opts).await {
                Ok(r) => {
                    tracing::info!(tenant = key.tenant, job = key.job, run = %r.run_id, %trigger, "run started")
                }
                // A manual run got there first; its end schedules the next.
                Err(StartError::AlreadyRunning(_)) => {}
                // Recorded and logged; the job tries again when the quota allows.
                Err(StartError::Quota(_) | StartError::WaitingForQuota) => {}
                Err(StartError::ShuttingDown) => return,
                // Another node runs it (or ran this slot); the job's next
                // run is planned from there.
                Err(StartError::HeldElsewhere(h)) => {
                    tracing::debug!(
                        tenant = key.tenant,
                        job = key.job,
                        node = h.node,
                        "the job runs on another node"
                    )
                }
                Err(StartError::SlotDone) => {
                    tracing::debug!(
                        tenant = key.tenant,
                        job = key.job,
                        "this slot already ran on another node"
                    )
                }
                Err(StartError::StoreDown(_)) => break,
                Err(StartError::UnknownJob(e)) => {
                    tracing::warn!(tenant = key.tenant, job = key.job, "{e}")
                }
            }
        }
        let sleep = due
            .earliest
            .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP)
            // Look for lapsed leases to take over once per heartbeat.
            .min(heartbeat);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = daemon.wake.notified() => {}
        }
    }
}

/// The due jobs to start now: free places under the daemon's cap, shared
/// round-robin across tenants within each tenant's own quota.
fn pick(
    daemon: &Daemon,
    due: Vec<DueJob<(Trigger, DateTime<Utc>)>>,
) -> Vec<DueJob<(Trigger, DateTime<Utc>)>> {
    if due.is_empty() {
        return due;
    }
    let config = daemon.host.config();
    let mut running: HashMap<String, usize> = HashMap::new();
    for (key, state) in super::lock(&daemon.jobs).iter() {
        if state.running.is_some() {
            *running.entry(key.tenant.clone()).or_default() += 1;
        }
    }
    let in_flight: usize = running.values().sum();
    let tenant_free: HashMap<String, usize> = config
        .tenants
        .iter()
        .filter_map(|t| {
            let quota = config.limits_for(&t.id).max_concurrent_runs? as usize;
            let busy = running.get(&t.id).copied().unwrap_or(0);
            Some((t.id.clone(), quota.saturating_sub(busy)))
        })
        .collect();
    let mut served_last = super::lock(&daemon.served_last);
    let (picked, last) = fair::pick(
        due,
        Places {
            free: (config.server.max_concurrent_runs as usize).saturating_sub(in_flight),
            tenant_free: &tenant_free,
            after: served_last.as_deref(),
        },
    );
    *served_last = last;
    picked
}

struct Due {
    /// Earliest first.
    due: Vec<DueJob<(Trigger, DateTime<Utc>)>>,
    earliest: Option<DateTime<Utc>>,
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
        // An agent job's scheduled run starts at once on the node its agent
        // polls; another node starts it only after a grace (and then finds
        // the slot done), or to record that no agent came at all.
        let at = match job.runs_on {
            RunsOn::Agent
                if next.trigger == Trigger::Schedule
                    && !daemon.agents.agent_present(&job.tenant, &job.id) =>
            {
                next.at + AGENT_GRACE
            }
            _ => next.at,
        };
        // `start_run` clears `next` as it marks the job running.
        if at <= now && state.running.is_none() {
            out.due.push(DueJob {
                key: job.key(),
                what: (next.trigger, next.at),
            });
        } else if state.running.is_none() {
            out.earliest = Some(out.earliest.map_or(at, |e| e.min(at)));
        }
    }
    // Jobs due at the same moment in an order of this node's own: nodes
    // sharing the store then reach for different jobs first instead of
    // all racing for the same ones (and one node winning nearly all).
    out.due
        .sort_by_key(|d| (d.what.1, node_order(&daemon.node, &d.key)));
    out
}

/// A hash of (node, job): a stable order of simultaneous due jobs that
/// differs from node to node.
fn node_order(node: &str, key: &JobKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (node, &key.tenant, &key.job).hash(&mut h);
    h.finish()
}
