//! A process that ends with its command (`usersync sync`) leaves to its exit
//! what only a long-lived one needs done: freeing a run's rows (100k users'
//! fields took ~25 ms) and copying a large SQLite log after the run (the
//! exit waited ~0.1 s for the copy's `fsync`; see `store/checkpoint.rs`).
//! The system frees a process's memory at once when it exits.

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

/// Free `value` on a thread of its own, which the caller need not wait
/// for; in a one-shot process, never (its exit does).
pub fn drop_later<T: Send + 'static>(value: T) {
    if is() {
        std::mem::forget(value);
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("usersync-free".into())
        .spawn(move || drop(value));
    // Without a thread (the process is at its limit) the value was moved
    // into the failed closure and is freed here, on this thread.
    drop(spawned);
}
