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
use rusqlite::OptionalExtension;
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

/// Fewest rows a bulk insert must add before [`with_index_rebuilt`] considers
/// rebuilding an index: below it the rebuild's fixed costs are not repaid.
const REBUILD_AT_LEAST: usize = 10_000;

/// Run `insert`, which adds `adding` rows to `table`, with the secondary
/// index `index` dropped and built again afterwards when the table holds no
/// more rows than that. A bulk insert fills an index keyed other than the
/// rows' order (memberships by user, inserted by group) at random places:
/// once the index outgrows the page cache every row reads a page back from
/// the OS. Building the index afterwards sorts once. Measured on 6M
/// memberships of 1M users (16 MiB cache): 21.3 s filled in place against
/// 4.9 s built afterwards; 0.44 against 0.31 s at 455k. The index is
/// recreated from its own stored definition, so it stays what the
/// migrations made, and all of it happens in the caller's transaction: a
/// failure rolls the drop back too.
pub(crate) fn with_index_rebuilt<T>(
    db: &rusqlite::Connection,
    table: &str,
    index: &str,
    adding: usize,
    insert: impl FnOnce() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    if adding < REBUILD_AT_LEAST {
        return insert();
    }
    // Counting stops past `adding`: a large table costs no full scan.
    let present: i64 = db.query_row(
        &format!("SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT ?1)"),
        [adding as i64 + 1],
        |r| r.get(0),
    )?;
    let definition: Option<String> = db
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?1 AND tbl_name = ?2",
            [index, table],
            |r| r.get(0),
        )
        .optional()?;
    let Some(definition) = definition.filter(|_| present as usize <= adding) else {
        return insert();
    };
    db.execute_batch(&format!("DROP INDEX {index}"))?;
    let out = insert()?;
    db.execute_batch(&definition)?;
    tracing::debug!(
        table,
        index,
        adding,
        present,
        "index rebuilt after a bulk insert"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX_SQL: &str = "CREATE INDEX m_user ON m(user_id)";

    fn table_with_rows(rows: i64) -> rusqlite::Connection {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(&format!(
            "CREATE TABLE m (group_id INTEGER, user_id INTEGER, PRIMARY KEY (group_id, user_id)) WITHOUT ROWID;
             {INDEX_SQL};
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {rows})
             INSERT INTO m SELECT 0, x FROM n WHERE {rows} > 0;"
        ))
        .unwrap();
        db
    }

    fn index_sql(db: &rusqlite::Connection) -> Option<String> {
        db.query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'm_user'",
            [],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
    }

    fn add(db: &rusqlite::Connection, n: i64) -> rusqlite::Result<()> {
        pairs(
            db,
            "INSERT INTO m (group_id, user_id) VALUES (?1, ?2)",
            (0..n).map(|u| (1, n - u)),
        )
    }

    #[test]
    fn a_bulk_insert_into_a_smaller_table_rebuilds_the_index_as_it_was() {
        let db = table_with_rows(5);
        let mut dropped_meanwhile = false;
        with_index_rebuilt(&db, "m", "m_user", 20_000, || {
            dropped_meanwhile = index_sql(&db).is_none();
            add(&db, 20_000)
        })
        .unwrap();
        assert!(dropped_meanwhile);
        assert_eq!(index_sql(&db).as_deref(), Some(INDEX_SQL));
        let used: String = db
            .query_row(
                "EXPLAIN QUERY PLAN SELECT group_id FROM m WHERE user_id = 7",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(used.contains("m_user"), "{used}");
        let check: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn the_index_stays_when_the_table_is_larger_or_the_insert_small() {
        for (present, adding) in [(30_000, 20_000), (0, 100)] {
            let db = table_with_rows(present);
            with_index_rebuilt(&db, "m", "m_user", adding as usize, || {
                assert!(index_sql(&db).is_some());
                add(&db, adding)
            })
            .unwrap();
        }
    }

    #[test]
    fn a_failed_insert_rolls_the_drop_back_with_the_transaction() {
        let db = table_with_rows(0);
        db.execute_batch("BEGIN").unwrap();
        let failed = with_index_rebuilt(&db, "m", "m_user", 20_000, || {
            add(&db, 100)?;
            db.execute("INSERT INTO m (group_id, user_id) VALUES (1, 1)", [])
        });
        assert!(failed.is_err());
        db.execute_batch("ROLLBACK").unwrap();
        assert_eq!(index_sql(&db).as_deref(), Some(INDEX_SQL));
    }
}
