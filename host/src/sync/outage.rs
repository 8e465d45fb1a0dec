//! The store's database going away (restart, failover, network cut) during
//! a run: the run fails with nothing applied, and its record is written
//! once the database answers again, so the failure is not lost.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::store::{lost_connection, RunRecord, Store};

/// Reconnect waits: 0.5 s, doubling up to 15 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(500);
    pub const MAX: Duration = Duration::from_secs(15);

    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (wait * 2).min(Self::MAX);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// How long a run's end waits for the database to come back before giving
/// up on its record (the next start's sweep marks the run then).
const RECORD_PATIENCE: Duration = Duration::from_secs(600);

/// Write the run's end; while the database is unreachable, try again with
/// backoff (bounded), so a run failed by an outage is recorded once it is
/// back.
pub(super) async fn finish_run(store: &Store, run: &RunRecord) -> Result<()> {
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let mut logged = false;
    loop {
        match store.finish_unapplied_run(run).await {
            Err(e) if lost_connection(&e) && started.elapsed() < RECORD_PATIENCE => {
                if !logged {
                    tracing::warn!(run = %run.id, "cannot record the run's end: the store's database at {} is unreachable ({e:#}); trying again until it answers", store.location());
                    logged = true;
                }
                tokio::time::sleep(backoff.next_wait()).await;
            }
            Err(e) => return Err(e),
            Ok(written) => {
                if !written {
                    tracing::warn!(run = %run.id, "the run's record was already written by its commit, which reached the database after all; it stands");
                }
                if logged {
                    tracing::info!(run = %run.id, "recorded the run's end: the store's database answers again");
                }
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_waits_double_from_half_a_second_up_to_fifteen() {
        let mut b = Backoff::new();
        let waits: Vec<_> = (0..8).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    }
}
