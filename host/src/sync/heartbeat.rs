//! A running run's heartbeat, refreshed in the background while it lives.

use crate::store::{Store, HEARTBEAT_EVERY};

/// Refreshes a running run's heartbeat until dropped, so other hosts can
/// tell a live run from an abandoned one.
pub(super) struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub(super) fn start(store: &Store, run_id: &str) -> Heartbeat {
        let store = store.clone();
        let id = run_id.to_string();
        Heartbeat(tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            tick.tick().await; // immediate: start_run wrote the first beat
            loop {
                tick.tick().await;
                if let Err(e) = store.heartbeat(&id).await {
                    tracing::debug!(run = %id, "cannot refresh the run's heartbeat: {e:#}");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}
