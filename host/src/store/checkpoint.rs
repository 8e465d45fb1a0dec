//! Copying an SQLite store's write-ahead log into the database file, off the
//! run's path.
//!
//! SQLite copies the log into the database (a checkpoint) inside the commit
//! that grows it past 1,000 pages. A 100k-user first sync writes ~150 MB of
//! log, so its commit waited ~0.3 s for the copy, and a 1M-user one seconds.
//! The connection a run applies on therefore never checkpoints
//! (`wal_autocheckpoint = 0`, `Backend::writer`); when its commit leaves a
//! log larger than [`BIG_LOG`], a thread of its own copies it, and so does
//! a process that opens a store with such a log (one an earlier process
//! exited before copying). Smaller logs are left to SQLite's own checkpoint
//! in the other connections' commits, as before: copying them on a thread
//! would make a short run's exit wait for the thread's `fsync`. A process
//! that ends with its command (`one_shot`) copies none: its log grows over
//! the next commands until one of them opens it large.
//!
//! The run's data is committed either way: the log is part of the database
//! until it is copied. A process that exits while its thread copies leaves
//! the rest to the next one, as after a crash. The checkpoint is SQLite's
//! `PASSIVE` one: it takes no lock a run waits for, and copies what no
//! reader still needs.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// A log file larger than this holds a large write not yet copied, or one
/// copied but not yet started over (then a checkpoint has nothing to do):
/// the store's connections cut the file back to it when the log starts over
/// (`journal_size_limit`). 16 MiB: SQLite's own threshold, 1,000 pages of
/// the store's 16 KiB.
pub(crate) const BIG_LOG: u64 = 16 << 20;

/// Checkpoint the store at `file` in the background if its log is larger
/// than [`BIG_LOG`] (an in-memory store has none).
pub(crate) fn if_large(file: &Path) {
    if is_large(file) {
        in_background(file);
    }
}

/// Whether the log of the store at `file` is larger than [`BIG_LOG`].
pub(crate) fn is_large(file: &Path) -> bool {
    log_size(file) > BIG_LOG
}

/// [`if_large`], after a run, unless the process ends with its run
/// (`one_shot`): a copy started then was cut short at exit, and the exit
/// waited ~0.1 s for its `fsync`. The next process to open the store copies
/// the log instead.
pub(crate) fn after_run(file: &Path) {
    after_run_in(file, crate::one_shot::is());
}

fn after_run_in(file: &Path, one_shot: bool) {
    if !one_shot {
        if_large(file);
    }
}

fn log_size(file: &Path) -> u64 {
    let mut log = file.as_os_str().to_owned();
    log.push("-wal");
    std::fs::metadata(log).map_or(0, |m| m.len())
}

/// The files whose checkpoint is running, each with whether another was
/// asked for meanwhile (it then runs again, for the frames added since).
static RUNNING: Mutex<Vec<(PathBuf, bool)>> = Mutex::new(Vec::new());

/// Checkpoint the store at `file` on a background thread. At most one runs
/// per file; a request while it runs makes it run once more.
fn in_background(file: &Path) {
    {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = running.iter_mut().find(|(f, _)| f == file) {
            entry.1 = true;
            return;
        }
        running.push((file.to_path_buf(), false));
    }
    let file = file.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn({
            let file = file.clone();
            move || loop {
                checkpoint(&file);
                let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
                let Some(at) = running.iter().position(|(f, _)| *f == file) else {
                    return;
                };
                if !std::mem::take(&mut running[at].1) {
                    running.swap_remove(at);
                    return;
                }
            }
        });
    if spawned.is_err() {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|(f, _)| *f != file);
    }
}

/// One `PASSIVE` checkpoint on a connection of its own. Failing is harmless
/// (the log stays, and the next request copies it), so it is only logged.
fn checkpoint(file: &Path) {
    let started = Instant::now();
    let done = rusqlite::Connection::open_with_flags(
        file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|db| {
        db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
    });
    match done {
        Ok((frames, copied)) => tracing::debug!(
            frames,
            copied,
            ms = started.elapsed().as_millis() as u64,
            "the store's log checkpointed"
        ),
        Err(e) => tracing::debug!(error = %e, "the store's log was not checkpointed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store in WAL mode whose log holds `rows` rows not yet copied.
    fn store_with_log(dir: &Path, rows: u32) -> (PathBuf, rusqlite::Connection) {
        let file = dir.join("store.db");
        let db = rusqlite::Connection::open(&file).unwrap();
        db.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (x TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO t SELECT hex(randomblob(100)) FROM n;"
        ))
        .unwrap();
        (file, db)
    }

    #[test]
    fn a_small_log_is_left_to_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _db) = store_with_log(dir.path(), 2000);
        assert!(log_size(&file) > 100_000 && log_size(&file) < BIG_LOG);
        if_large(&file);
        assert!(!RUNNING.lock().unwrap().iter().any(|(f, _)| *f == file));
        std::thread::sleep(std::time::Duration::from_millis(100));
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(size < 100_000, "nothing was copied: {size} bytes");
    }

    #[test]
    fn a_command_leaves_a_large_log_to_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let (file, _db) = store_with_log(dir.path(), 90_000);
        assert!(is_large(&file), "{}", log_size(&file));
        after_run_in(&file, true);
        assert!(!RUNNING.lock().unwrap().iter().any(|(f, _)| *f == file));
        // What a daemon does after its runs, and any process at open.
        if_large(&file);
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::metadata(&file).unwrap().len() < BIG_LOG {
            assert!(Instant::now() < deadline, "the log was never copied");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_background_checkpoint_copies_the_log_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let (file, db) = store_with_log(dir.path(), 5000);
        let size = || std::fs::metadata(&file).unwrap().len();
        assert!(size() < 100_000, "the rows are only in the log yet");
        assert!(log_size(&file) > 500_000, "{}", log_size(&file));
        in_background(&file);
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while RUNNING.lock().unwrap().iter().any(|(f, _)| *f == file) {
            assert!(Instant::now() < deadline, "the checkpoint never finished");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(size() > 1_000_000, "the database file holds the rows");
        let rows: i64 = db
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 5000);
    }
}
