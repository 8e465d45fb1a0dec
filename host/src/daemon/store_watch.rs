//! Whether this node holds the store's database. A failed round trip (or a
//! run or lease call that lost its connection) marks the database
//! unreachable: the scheduler pauses, `/health` answers 503, and this task
//! reconnects with backoff (0.5 s doubling to 15 s), logging once per change
//! of state. When the database answers again, scheduling resumes without a
//! restart.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Daemon;
use crate::sync::Backoff;

/// How long one round trip may take before the database counts as gone.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

impl Daemon {
    /// Whether the store's database answered last time it was asked.
    pub fn store_up(&self) -> bool {
        self.store_up.load(Ordering::Relaxed)
    }

    /// The database stopped answering: pause and reconnect (logged once).
    pub(super) fn store_lost(&self, why: &str) {
        if self.store_up.swap(false, Ordering::Relaxed) {
            self.metrics.store_up.set(0);
            tracing::error!(
                "the store's database at {} is unreachable ({why}); runs are paused, reconnecting with backoff",
                self.host.store.location()
            );
        }
    }

    fn store_back(&self) {
        if !self.store_up.swap(true, Ordering::Relaxed) {
            self.metrics.store_up.set(1);
            tracing::info!(
                "the store's database at {} answers again; runs resume",
                self.host.store.location()
            );
            self.wake.notify_one();
        }
    }
}

/// Ask the database every lease heartbeat while it answers, with backoff
/// while it does not.
pub(super) async fn watch(daemon: Arc<Daemon>) {
    let mut backoff = Backoff::new();
    while !daemon.shutting_down() {
        let answered = tokio::time::timeout(PING_TIMEOUT, daemon.host.store.ping()).await;
        let wait = match answered {
            Ok(Ok(())) => {
                daemon.store_back();
                backoff = Backoff::new();
                Duration::from_secs(daemon.host.config().server.lease_heartbeat_seconds)
            }
            Ok(Err(e)) => {
                daemon.store_lost(&format!("{e:#}"));
                backoff.next_wait()
            }
            Err(_) => {
                daemon.store_lost(&format!("no answer within {} s", PING_TIMEOUT.as_secs()));
                backoff.next_wait()
            }
        };
        tokio::time::sleep(wait).await;
    }
}
