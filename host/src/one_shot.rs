//! A process that ends with its command (`usersync sync`) leaves to its exit
//! what only a long-lived one needs done: freeing the run's plan and the
//! plugins once the command has answered, and copying the SQLite log after
//! the run or at the store's close (the exit waited for the copy's
//! `fsync`s; see `store/checkpoint.rs` and `Backend::close`). The system
//! frees a process's memory at once when it exits.

use std::sync::atomic::{AtomicBool, Ordering};

static ONE_SHOT: AtomicBool = AtomicBool::new(false);

/// Mark this process as one that exits when its command is done.
pub fn mark() {
    ONE_SHOT.store(true, Ordering::Relaxed);
}

/// Whether [`mark`] was called.
pub fn is() -> bool {
    ONE_SHOT.load(Ordering::Relaxed)
}

/// Free `value` now, or in a one-shot process never: its exit does, at once.
pub fn drop_at_exit<T>(value: T) {
    if is() {
        std::mem::forget(value);
    }
}
