//! A run's progress as it happens, for the console's live view: the phase
//! and the records the connector has sent so far. Written by the run
//! (atomics, no lock), read by whoever holds the `Arc`.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Reading,
    Planning,
    Applying,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Reading => "reading",
            Phase::Planning => "planning",
            Phase::Applying => "applying",
            Phase::Done => "done",
        }
    }
}

#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    users: AtomicU64,
    groups: AtomicU64,
}

impl Progress {
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            1 => Phase::Reading,
            2 => Phase::Planning,
            3 => Phase::Applying,
            4 => Phase::Done,
            _ => Phase::Starting,
        }
    }

    pub(crate) fn add_users(&self, n: usize) {
        self.users.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_groups(&self, n: usize) {
        self.groups.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// User records the connector has sent so far.
    pub fn users(&self) -> u64 {
        self.users.load(Ordering::Relaxed)
    }

    /// Group records the connector has sent so far.
    pub fn groups(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }
}
