//! What a run tells the daemon besides its report: plugin call timings
//! (metrics) and a plugin's request for the next run on a failed run.

use std::time::Duration;

/// Told how long plugin calls take (the daemon's metrics).
pub trait CallObserver: Send + Sync {
    /// `call` is `read`, `test-connection`, `configure`, `map-users` or `map-groups`.
    fn plugin_call(&self, plugin: &str, call: &str, elapsed: Duration);
}

/// The plugin asked (through the `schedule` import) for the job's next run
/// in this many seconds; attached to a failed run's error as context (a
/// successful run carries it in `RunReport::run_again_in`).
#[derive(Debug, Clone, Copy)]
pub struct RunAgainIn(pub u32);

impl std::fmt::Display for RunAgainIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plugin asked to run again in {} s", self.0)
    }
}
