//! The daemon's side of job leases (SQL in `store/leases.rs`): a run starts
//! only once this node holds its job's lease, a heartbeat renews the lease
//! while the run lives, and the run's end releases it. Every scheduler pass
//! looks for leases that lapsed under a run (its node was killed or cut
//! off) and takes those jobs over. The database is the coordinator; no node
//! is special.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::jobs::{scheduled_after, NextRun, RunOptions, Running, StartError, Trigger};
use super::Daemon;
use crate::config::{JobConfig, JobKey};
use crate::store::{Holder, LeaseClaim, QuotaHit, Slot, Take};

/// Why this node may not start a run of a job now.
#[derive(Debug, Clone)]
pub enum Refused {
    /// Another node's run holds the job.
    Held(Holder),
    /// This schedule slot already ran on some node; `last_slot` is when.
    SlotDone { last_slot: String },
    /// The store's database did not answer.
    StoreDown(String),
    /// The tenant is at a run quota, counted across the nodes.
    Quota(QuotaHit),
}

/// A scheduled run's slot as the lease row stores it, and the earliest
/// slot that counts as "this one already ran": the same time for cron (every
/// node computes the same slots), half an interval back for intervals (each
/// node counts its interval from its own start).
fn slot_bounds(job: &JobConfig, at: DateTime<Utc>) -> (String, String) {
    let floor = match job.interval_seconds {
        Some(secs) => at - chrono::Duration::milliseconds((secs * 500) as i64),
        None => at,
    };
    (stamp(at), stamp(floor))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Daemon {
    /// This node's claim on leases, with the lease length in force.
    pub(super) fn claim(&self) -> LeaseClaim {
        LeaseClaim {
            node: self.node.clone(),
            lease: Duration::from_secs(self.host.config().server.lease_seconds),
        }
    }

    /// Take the job's lease for `run_id`; `slot` for a scheduled run.
    pub(super) async fn take_lease(
        &self,
        key: &JobKey,
        run_id: &str,
        slot: Option<DateTime<Utc>>,
    ) -> Result<(), Refused> {
        let config = self.host.config();
        let bounds = match (slot, config.job_by_key(key)) {
            (Some(at), Some(job)) => Some(slot_bounds(job, at)),
            _ => None,
        };
        let slot = bounds.as_ref().map(|(at, floor)| Slot { at, floor });
        let quota = super::quota::run_quota(&config.limits_for(&key.tenant));
        let take = self
            .host
            .store
            .take_lease(&key.tenant, &key.job, run_id, &self.claim(), slot, quota)
            .await;
        match take {
            Ok(Take::Taken { abandoned }) => {
                if let Some(a) = abandoned {
                    tracing::warn!(
                        tenant = key.tenant,
                        job = key.job,
                        run = run_id,
                        "took the job over from node {} (its run {} was abandoned)",
                        a.node,
                        a.run_id
                    );
                    self.metrics.lease_takeover(key);
                }
                Ok(())
            }
            Ok(Take::Held(holder)) => Err(Refused::Held(holder)),
            Ok(Take::SlotDone { last_slot }) => Err(Refused::SlotDone { last_slot }),
            Ok(Take::Quota(hit)) => Err(Refused::Quota(hit)),
            Err(e) => {
                let why = format!("{e:#}");
                if crate::store::lost_connection(&e) {
                    self.store_lost(&why);
                }
                Err(Refused::StoreDown(why))
            }
        }
    }

    /// When a job refused by its lease runs next on this node: its next
    /// scheduled slot (after the slot that ran elsewhere).
    pub(super) fn next_after_refusal(job: &JobConfig, refused: &Refused) -> Option<NextRun> {
        let now = Utc::now();
        match refused {
            Refused::SlotDone { last_slot } => {
                let last = DateTime::parse_from_rfc3339(last_slot)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(now);
                match job.interval_seconds {
                    Some(_) => scheduled_after(job, last),
                    None => scheduled_after(job, last.max(now)),
                }
            }
            _ => scheduled_after(job, now),
        }
    }

    /// Undo a run's reservation its lease refused; plan the job's next run.
    /// A quota's refusal is recorded, except a scheduled run waiting for a
    /// place under `max_concurrent_runs`: it tries again a heartbeat later.
    pub(super) fn unreserve(
        &self,
        key: &JobKey,
        running: &Running,
        opts: RunOptions,
        refused: Refused,
        next_before: Option<NextRun>,
    ) -> StartError {
        let config = self.host.config();
        let mut jobs = super::lock(&self.jobs);
        let state = jobs.entry(key.clone()).or_default();
        state.running = None;
        let heartbeat = Duration::from_secs(config.server.lease_heartbeat_seconds);
        let error = match refused {
            Refused::Quota(QuotaHit::Concurrent { .. }) if running.trigger != Trigger::Api => {
                state.next = Some(NextRun {
                    at: super::jobs::after(Utc::now(), heartbeat),
                    trigger: running.trigger,
                });
                StartError::WaitingForQuota
            }
            Refused::Quota(hit) => {
                let (message, reopens) = super::quota::refusal(&key.tenant, hit);
                let refusal = self.refuse(
                    state,
                    key,
                    running.trigger,
                    opts,
                    message,
                    reopens,
                    Utc::now(),
                );
                StartError::Quota(refusal)
            }
            // Due again once the database answers (not in a tight loop).
            Refused::StoreDown(why) => {
                state.next = next_before.map(|n| NextRun {
                    at: n.at.max(super::jobs::after(Utc::now(), heartbeat)),
                    ..n
                });
                StartError::StoreDown(why)
            }
            refused => {
                state.next = config
                    .job_by_key(key)
                    .and_then(|job| Self::next_after_refusal(job, &refused));
                match refused {
                    Refused::Held(holder) => StartError::HeldElsewhere(holder),
                    _ => StartError::SlotDone,
                }
            }
        };
        drop(jobs);
        self.run_ended.notify_waiters();
        error
    }

    /// Renew the lease of `run_id` every `server.lease_heartbeat_seconds`
    /// until the returned guard is dropped.
    pub(super) fn renew_while_running(self: &Arc<Self>, key: &JobKey, run_id: &str) -> Renewal {
        let daemon = self.clone();
        let (key, run_id) = (key.clone(), run_id.to_string());
        Renewal(tokio::spawn(async move {
            let mut lost = false;
            loop {
                let every = daemon.host.config().server.lease_heartbeat_seconds;
                tokio::time::sleep(Duration::from_secs(every)).await;
                let renewed = daemon
                    .host
                    .store
                    .renew_lease(&key.tenant, &key.job, &run_id, &daemon.claim())
                    .await;
                match renewed {
                    Ok(true) => lost = false,
                    // The apply re-checks the lease and fails the run then.
                    Ok(false) if !lost => {
                        lost = true;
                        tracing::warn!(tenant = key.tenant, job = key.job, run = run_id, "the run lost its job lease (it lapsed and another node took the job over); it will apply nothing");
                    }
                    Ok(false) => {}
                    Err(e) => tracing::debug!(run = run_id, "cannot renew the job lease: {e:#}"),
                }
            }
        }))
    }

    /// Let go of the lease at the run's end (best effort: a lease not
    /// released lapses, and a peer then finds the run already ended).
    pub(super) async fn release_lease(&self, key: &JobKey, run_id: &str) {
        let released = self
            .host
            .store
            .release_lease(&key.tenant, &key.job, run_id, &self.node)
            .await;
        if let Err(e) = released {
            tracing::warn!(
                tenant = key.tenant,
                job = key.job,
                run = run_id,
                "cannot release the job lease (it lapses by itself): {e:#}"
            );
        }
    }

    /// Make jobs whose lease lapsed under a run (their node stopped
    /// renewing) due now on this node, unless it runs them already.
    pub(super) async fn take_over_lapsed(&self) {
        let lapsed = match self.host.store.lapsed_leases().await {
            Ok(l) => l,
            Err(e) => {
                if crate::store::lost_connection(&e) {
                    self.store_lost(&format!("{e:#}"));
                }
                return;
            }
        };
        let config = self.host.config();
        let mut jobs = super::lock(&self.jobs);
        for (tenant, job) in lapsed {
            let key = JobKey { tenant, job };
            if config.job_by_key(&key).is_none() {
                continue;
            }
            let state = jobs.entry(key).or_default();
            if state.running.is_none() {
                state.next = Some(NextRun {
                    at: Utc::now(),
                    trigger: Trigger::Takeover,
                });
            }
        }
    }
}

/// Renews a run's lease until dropped.
pub(super) struct Renewal(tokio::task::JoinHandle<()>);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}
