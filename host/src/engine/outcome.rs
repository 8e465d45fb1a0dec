//! How a run ended, as the store, the API, metrics and the CLI's exit code
//! name it: one enum instead of strings compared in several places.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A run's outcome; stored and served as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// In progress (or its process died and no process has noticed yet).
    Running,
    Succeeded,
    /// The run hit an error; nothing of it was applied.
    Failed,
    /// Stopped at a batch boundary because the host was shutting down.
    Cancelled,
    /// Its process died during the run (found by ownership, not guessed).
    Interrupted,
    /// More deactivations than `deactivate_threshold(_percent)` allows.
    StoppedByThreshold,
    /// Not enough license seats under `license_policy = "stop"`.
    StoppedByLicense,
    StoppedNoGroupSelected,
    /// A full read returned no users while the store has active ones.
    EmptyRead,
    /// More records were rejected than `max_rejected_percent` allows.
    StoppedByRejected,
    /// A tenant quota (`[tenants.limits]`) refused or stopped the run.
    StoppedByQuota,
}

impl RunOutcome {
    pub const ALL: [RunOutcome; 11] = [
        RunOutcome::Running,
        RunOutcome::Succeeded,
        RunOutcome::Failed,
        RunOutcome::Cancelled,
        RunOutcome::Interrupted,
        RunOutcome::StoppedByThreshold,
        RunOutcome::StoppedByLicense,
        RunOutcome::StoppedNoGroupSelected,
        RunOutcome::EmptyRead,
        RunOutcome::StoppedByRejected,
        RunOutcome::StoppedByQuota,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::StoppedByThreshold => "stopped_by_threshold",
            RunOutcome::StoppedByLicense => "stopped_by_license",
            RunOutcome::StoppedNoGroupSelected => "stopped_no_group_selected",
            RunOutcome::EmptyRead => "empty_read",
            RunOutcome::StoppedByRejected => "stopped_by_rejected",
            RunOutcome::StoppedByQuota => "stopped_by_quota",
        }
    }

    /// The exit code of `usersync sync` for a run that ended this way
    /// (README, "Exit codes"): monitoring and retries key on it.
    pub fn exit_code(self) -> u8 {
        match self {
            RunOutcome::Succeeded => 0,
            RunOutcome::Failed | RunOutcome::Running | RunOutcome::Interrupted => 1,
            RunOutcome::StoppedByThreshold
            | RunOutcome::StoppedByLicense
            | RunOutcome::StoppedNoGroupSelected
            | RunOutcome::StoppedByQuota => 2,
            RunOutcome::EmptyRead => 3,
            RunOutcome::StoppedByRejected => 4,
            RunOutcome::Cancelled => 5,
        }
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunOutcome {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<RunOutcome> {
        RunOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown run outcome {s:?} in the store"))
    }
}

impl PartialEq<str> for RunOutcome {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RunOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_round_trip_through_text_and_json() {
        for o in RunOutcome::ALL {
            assert_eq!(o.as_str().parse::<RunOutcome>().unwrap(), o);
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

    #[test]
    fn only_success_exits_zero() {
        for o in RunOutcome::ALL {
            assert_eq!(o.exit_code() == 0, o == RunOutcome::Succeeded, "{o}");
        }
    }
}
