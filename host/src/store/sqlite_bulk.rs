//! SQLite's bulk reads and writes, on sqlx's connection handle: writes step
//! one prepared one-row statement per row, in the applying transaction;
//! a run's load steps the job's rows (`load/sqlite.rs`).
//!
//! sqlx runs SQLite on a worker thread and hands it a statement's values
//! as owned copies: a multi-row `INSERT` of 30,000 parameters copies every
//! value twice and crosses to the worker once per chunk. For a 100k-user
//! first sync that overhead was more than SQLite's own work (the users'
//! insert took 1.0 s through sqlx and 0.4 s in the `sqlite3` shell). So
//! the bulk writes borrow the connection's handle from sqlx
//! ([`SqliteConnection::lock_handle`], made for direct SQLite calls) and
//! drive it through rusqlite, in the same transaction: what they write
//! commits or rolls back with the rest of the run.

use anyhow::{Context, Result};
use sqlx::SqliteConnection;

/// Run `read` on the connection's SQLite handle (see [`write`]).
pub(crate) async fn read<T>(
    conn: &mut SqliteConnection,
    read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T> {
    write(conn, read).await
}

/// Run `write` on the connection's SQLite handle. The tokio worker it runs
/// on is told it blocks (on a multi-threaded runtime), so other tasks move
/// to other workers meanwhile.
pub(crate) async fn write<T>(
    conn: &mut SqliteConnection,
    write: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> Result<T> {
    let mut locked = conn
        .lock_handle()
        .await
        .context("cannot reach the store's SQLite connection")?;
    let raw = locked.as_raw_handle().as_ptr();
    // SAFETY: `raw` is a live connection that sqlx's worker makes no call on
    // while `locked` is held, and `locked` outlives `db`. A connection made
    // by `from_handle` never closes the handle it borrows.
    let db = unsafe { rusqlite::Connection::from_handle(raw) }?;
    let out = blocking(|| write(&db));
    drop(db);
    Ok(out?)
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// How many pairs [`pairs`] computes before it writes them (4 MB).
const PAIRS_AT_ONCE: usize = 262_144;

/// Step `sql` (two parameters) once per pair, in any order. The pairs are
/// taken a chunk at a time. Computing all of them first held 96 MB at 1M
/// users; computing each just before its step (two hash lookups among
/// SQLite's B-tree work) made a 100k-user first sync's memberships ~50%
/// slower, and chunks of 16k ~15%. Chunks of 256k write as fast as one
/// list (measured). Each chunk is stepped in order, so the B-tree pages a
/// step visits (the key's, a foreign key's parent row) are mostly the last
/// step's.
pub(crate) fn pairs(
    db: &rusqlite::Connection,
    sql: &str,
    rows: impl IntoIterator<Item = (i64, i64)>,
) -> rusqlite::Result<()> {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut statement = db.prepare(sql)?;
    let mut chunk = Vec::with_capacity(PAIRS_AT_ONCE);
    loop {
        chunk.extend(rows.by_ref().take(PAIRS_AT_ONCE));
        if chunk.is_empty() {
            return Ok(());
        }
        chunk.sort_unstable();
        for row in chunk.drain(..) {
            statement.execute(row)?;
        }
    }
}
