//! `usersync sync` holds its job's lease like a node's run does, so a run
//! from the CLI never overlaps a run of the same job on a `usersync serve`
//! node sharing the store (or another CLI run). Tenant run quotas are not
//! applied: the CLI is the operator's tool.

use std::time::Duration;

use crate::config::JobKey;
use crate::store::{LeaseClaim, Store};
use crate::sync::Host;

/// The job's lease, renewed in the background until released or dropped.
pub(super) struct CliLease {
    store: Store,
    key: JobKey,
    run_id: String,
    claim: LeaseClaim,
    renewal: tokio::task::JoinHandle<()>,
}

/// The lease `run_id` of `key` takes as it starts (in the transaction that
/// records the run, so a process killed in between leaves no lease behind),
/// renewed in the background from then on.
pub(super) fn hold(host: &Host, key: &JobKey, run_id: &str) -> CliLease {
    let server = host.config().server.clone();
    let claim = LeaseClaim {
        node: format!("{}-cli", server.node_name()),
        lease: Duration::from_secs(server.lease_seconds),
    };
    let store = host.store.clone();
    let every = Duration::from_secs(server.lease_heartbeat_seconds);
    let (s, k, r, c) = (
        store.clone(),
        key.clone(),
        run_id.to_string(),
        claim.clone(),
    );
    let renewal = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            // Not taken yet or lost: a no-op; the apply re-checks it.
            if let Err(e) = s.renew_lease(&k.tenant, &k.job, &r, &c).await {
                tracing::debug!(run = r, "cannot renew the job lease: {e:#}");
            }
        }
    });
    CliLease {
        store,
        key: key.clone(),
        run_id: run_id.to_string(),
        claim,
        renewal,
    }
}

impl CliLease {
    /// What the run's apply checks it still holds.
    pub(super) fn claim(&self) -> LeaseClaim {
        self.claim.clone()
    }

    /// Let go at the run's end (a lease not released lapses by itself;
    /// releasing one this run never took changes nothing).
    pub(super) async fn release(self) {
        self.renewal.abort();
        let released = self
            .store
            .release_lease(
                &self.key.tenant,
                &self.key.job,
                &self.run_id,
                &self.claim.node,
            )
            .await;
        if let Err(e) = released {
            tracing::warn!(
                run = self.run_id,
                "cannot release the job lease (it lapses by itself): {e:#}"
            );
        }
    }
}

impl Drop for CliLease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}
