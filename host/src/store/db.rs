//! The two databases a store can live in, and how code reaches either.
//!
//! SQL that both databases understand is written once: `$1`-style
//! placeholders (sqlx's SQLite driver reads them too), `ON CONFLICT` instead
//! of `INSERT OR …`, `TRUE`/`FALSE` for flags. [`on_pool!`] and [`on_tx!`]
//! expand one such body once per backend, so it is type-checked against both
//! drivers. SQL that must differ (bulk writes, JSON aggregates, locking)
//! lives in the per-backend functions beside it, named for the backend.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// Which database holds the store, with its connection pool.
#[derive(Clone, Debug)]
pub enum Backend {
    /// An embedded file (`sqlite://…`): the default for one machine.
    Sqlite(SqlitePool),
    /// A PostgreSQL server (`postgres://…`): for hosted and shared setups.
    Postgres(PgPool),
}

/// A transaction on either backend; `'c` is the connection it borrows
/// (`'static` when the transaction holds a pooled connection itself).
pub(crate) enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

/// The connection a run's changes are written on (see [`Backend::writer`]).
pub(crate) struct Writer(Option<PoolConnection<Sqlite>>);

impl Tx<'_> {
    pub(crate) fn backend_name(&self) -> &'static str {
        match self {
            Tx::Sqlite(_) => "sqlite",
            Tx::Postgres(_) => "postgres",
        }
    }

    pub(crate) async fn commit(self) -> Result<()> {
        let done = match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        };
        match done {
            Ok(()) => Ok(()),
            Err(e) => {
                let e = anyhow::Error::from(e);
                if lost_connection(&e) {
                    Err(e.context(CommitUncertain))
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// Run `$body` with `$p` bound to the backend's pool (`&SqlitePool` or
/// `&PgPool`); the body is compiled once per backend.
macro_rules! on_pool {
    ($backend:expr, |$p:ident| $body:expr) => {
        match $backend {
            $crate::store::db::Backend::Sqlite($p) => $body,
            $crate::store::db::Backend::Postgres($p) => $body,
        }
    };
}

/// Run `$body` with `$c` bound to the transaction's connection
/// (`&mut SqliteConnection` or `&mut PgConnection`).
macro_rules! on_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut *$tx {
            $crate::store::db::Tx::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::db::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub(crate) use {on_pool, on_tx};

impl Backend {
    /// Connect to (creating an SQLite file if needed) and migrate the store
    /// at `url`.
    pub async fn open(url: &str) -> Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            open_postgres(url).await.map(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            open_sqlite(url).await.map(Backend::Sqlite)
        } else {
            Err(anyhow!(
                "store.url {:?} names no store usersync knows: use sqlite://<file> (embedded, the default) or postgres://<user>:<password>@<host>:<port>/<database>",
                redact(url)
            ))
        }
    }

    pub(crate) async fn begin(&self) -> Result<Tx<'static>> {
        Ok(match self {
            // IMMEDIATE: take the write lock before the first read, so what
            // the transaction counts cannot change before it commits.
            Backend::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Plain transaction (no write lock up front on SQLite).
    pub(crate) async fn begin_deferred(&self) -> Result<Tx<'static>> {
        Ok(match self {
            Backend::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Backend::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A connection for applying a run (PostgreSQL: the pool's). On SQLite
    /// it checks no foreign keys: in a 100k-user first sync those checks
    /// cost 0.9 s of the manager links and 1 s of the memberships (a random
    /// read of the parent row for every row written), a third of the write.
    /// They would guard nothing there: SQLite has one writer, and the apply
    /// writes only ids it read (or made) in its own transaction and never
    /// deletes a parent row (users, groups, roles, runs are deactivated or
    /// kept), so no reference it writes can dangle. The connection is closed
    /// when dropped, so none goes back to the pool without its checks.
    pub(crate) async fn writer(&self) -> Result<Writer> {
        let Backend::Sqlite(p) = self else {
            return Ok(Writer(None));
        };
        let mut conn = p.acquire().await?;
        conn.close_on_drop();
        // Nor does its commit copy the log into the database: a large one is
        // copied on a thread of its own afterwards (`checkpoint.rs`). Nor its
        // close, which SQLite does when it is the last connection open.
        for pragma in ["PRAGMA foreign_keys = OFF", "PRAGMA wal_autocheckpoint = 0"] {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
        super::sqlite_bulk::write(&mut conn, |db| {
            db.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )
        })
        .await?;
        Ok(Writer(Some(conn)))
    }

    /// A write transaction on `writer`, like [`Backend::begin`].
    pub(crate) async fn begin_on<'c>(&self, writer: &'c mut Writer) -> Result<Tx<'c>> {
        Ok(match (self, &mut writer.0) {
            (Backend::Sqlite(_), Some(conn)) => {
                Tx::Sqlite(conn.begin_with("BEGIN IMMEDIATE").await?)
            }
            _ => self.begin().await?,
        })
    }

    /// After a run: copy an SQLite store's log into its database on a
    /// background thread when it is large (`checkpoint.rs`); nothing to do
    /// on PostgreSQL.
    pub(crate) fn checkpoint_after_run(&self) {
        if let Backend::Sqlite(p) = self {
            super::checkpoint::after_run(p.connect_options().get_filename());
        }
    }

    /// Close every connection, waiting for each. SQLite's last connection
    /// copies the log into the database file and removes it, which a
    /// process that ends with its command does not wait for (`one_shot`):
    /// the copy and its two `fsync`s held up a 10k-user first sync's exit by
    /// ~35 ms, an eighth of its time. What it committed is in the log, which the
    /// next process reads, and copies when large (`checkpoint.rs`). A large
    /// log is left open by a long-lived process too, for the same reason.
    pub(crate) async fn close(&self) {
        match self {
            Backend::Sqlite(_) if crate::one_shot::is() => {}
            Backend::Sqlite(p)
                if super::checkpoint::is_large(p.connect_options().get_filename()) => {}
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

async fn open_sqlite(url: &str) -> Result<SqlitePool> {
    let opts = SqliteConnectOptions::from_str(url)
        .with_context(|| {
            format!("store.url {url:?} is not a valid SQLite URL (e.g. sqlite://usersync.db)")
        })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // A run writes hundreds of thousands of index entries. A 16 MiB
        // page cache per connection: a 100k-user first sync wrote as fast
        // as with 64 MiB (median 6.4 s against 6.5 s) and peaked at ~250 MB
        // instead of ~300; 8 MiB was ~10% slower.
        // Temporary data (an index build's sort, staged updates) goes to
        // SQLite's temp files, in the OS's cache: kept in memory, the index
        // build of a 1M-user first sync held ~270 MB at the run's peak.
        .pragma("cache_size", "-16384")
        // Once the log is copied into the database, the next write cuts its
        // file back to this size, so a bigger file means a large write since
        // (`checkpoint.rs`).
        .pragma("journal_size_limit", super::checkpoint::BIG_LOG.to_string())
        // 16 KiB pages for a new store (an existing one keeps its own): a
        // first sync's B-trees take fewer pages and its commit copies fewer
        // WAL frames. 100k users: 2.73-2.83 s against 2.97-3.08 s; 1M:
        // apply 15.1 s against 17.3 s (8 KiB: 16.3 s). No-op and
        // incremental runs measured the same.
        .page_size(16384);
    // A process that ends with its run leaves a large log to the next one
    // (`checkpoint.rs`): a write after the run (the lease's release) would
    // otherwise copy it in SQLite's own checkpoint, holding up the exit by
    // ~0.3 s. Nor does it copy a small one at its close (`Backend::close`).
    let opts = if crate::one_shot::is() {
        opts.pragma("wal_autocheckpoint", "0")
    } else {
        opts
    };
    if let Some(dir) = url
        .strip_prefix("sqlite://")
        .map(std::path::Path::new)
        .and_then(|p| p.parent())
    {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the store's folder {}", dir.display()))?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .with_context(|| {
            format!("cannot migrate the store's schema at {url}; if it was made by a pre-release build, move it away and sync again")
        })?;
    // A large log an earlier process left (it exited before copying it).
    super::checkpoint::if_large(pool.connect_options().get_filename());
    Ok(pool)
}

/// How long connecting to PostgreSQL may take before the store gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

async fn open_postgres(url: &str) -> Result<PgPool> {
    let shown = redact(url);
    let opts = PgConnectOptions::from_str(url).map_err(|_| {
        anyhow!("store.url {shown:?} is not a valid PostgreSQL URL: write postgres://<user>:<password>@<host>:<port>/<database>")
    })?;
    // One connection first: the pool retries a refused connection until its
    // timeout, which would hide why (refused, wrong password, no database).
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, opts.connect())
        .await
        .map_err(|_| anyhow!(connect_error(&shown, &sqlx::Error::PoolTimedOut)))?
        .map_err(|e| anyhow!(connect_error(&shown, &e)))?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(opts)
        .await
        .map_err(|e| anyhow!(connect_error(&shown, &e)))?;
    // The migrator holds an advisory lock, so nodes starting together
    // migrate once.
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .with_context(|| format!("cannot migrate the store's schema at {shown}; the database user needs the right to create tables in it"))?;
    Ok(pool)
}

/// Why PostgreSQL refused, and what to change; never with the password.
fn connect_error(shown: &str, e: &sqlx::Error) -> String {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    let why = match code.as_deref() {
        Some("28P01") | Some("28000") => "the server refused the user name or password; fix the user and password in store.url".to_string(),
        Some("3D000") => "the database does not exist; create it (createdb <name>) or fix the database name at the end of store.url".to_string(),
        _ => match e {
            sqlx::Error::Io(io) => format!("the server cannot be reached ({io}); check the host and port in store.url and that PostgreSQL is running"),
            sqlx::Error::PoolTimedOut => "no answer within 15 s; check the host and port in store.url and that PostgreSQL is running".to_string(),
            sqlx::Error::Tls(_) => "TLS failed; check sslmode in store.url".to_string(),
            other => other.to_string(),
        },
    };
    format!("cannot connect to the PostgreSQL store at store.url {shown}: {why}")
}

/// Where the store's database is, for messages: `host:port` for
/// PostgreSQL, the file for SQLite.
pub(crate) fn location(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) if u.scheme().starts_with("postgres") => format!(
            "{}:{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432)
        ),
        _ => url.strip_prefix("sqlite://").unwrap_or(url).to_string(),
    }
}

/// Whether `e` says the connection to the database was lost or cannot be
/// made (server stopped, restarted, failed over, network cut), as opposed
/// to the database refusing a statement.
pub fn lost_connection(e: &anyhow::Error) -> bool {
    e.chain().any(|c| match c.downcast_ref::<sqlx::Error>() {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_),
        ) => true,
        Some(sqlx::Error::Protocol(m)) => m.contains("closed") || m.contains("unexpected"),
        Some(sqlx::Error::Database(d)) => d.code().is_some_and(|c| {
            // 08: connection exception; 57P01-03: the server is shutting
            // down, crashed or not yet accepting connections.
            c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    })
}

/// A commit whose answer the connection lost: the database may or may not
/// have applied it.
#[derive(Debug)]
pub struct CommitUncertain;

impl std::fmt::Display for CommitUncertain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection to the database was lost while it committed")
    }
}

impl std::error::Error for CommitUncertain {}

/// Whether `e` is a commit whose outcome the lost connection hid.
pub fn commit_uncertain(e: &anyhow::Error) -> bool {
    e.downcast_ref::<CommitUncertain>().is_some()
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Not a URL at all: show only the scheme-ish start, in case it holds a secret.
        Err(_) => url.split('@').next_back().unwrap_or(url).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_commit_is_told_through_later_context() {
        let lost = anyhow::Error::from(sqlx::Error::PoolClosed).context(CommitUncertain);
        let e = lost.context("applying the run");
        assert!(commit_uncertain(&e));
        assert!(lost_connection(&e));
        let other = anyhow::Error::from(sqlx::Error::PoolClosed).context("applying the run");
        assert!(!commit_uncertain(&other));
    }

    #[test]
    fn a_store_url_shown_in_a_message_never_holds_its_password() {
        let shown = redact("postgres://sync:s3cret@db.example:5432/usersync");
        assert_eq!(shown, "postgres://sync:***@db.example:5432/usersync");
        assert!(!redact("postgres://sync:s3cret@db/x?sslmode=require").contains("s3cret"));
        assert!(!redact("postgres//sync:s3cret@db/x").contains("s3cret"));
        assert_eq!(redact("sqlite://usersync.db"), "sqlite://usersync.db");
    }

    #[tokio::test]
    async fn only_the_applying_connection_skips_foreign_key_checks() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let backend = Backend::open(&url).await.unwrap();
        let Backend::Sqlite(pool) = &backend else {
            unreachable!()
        };
        let checks = async |c: &mut sqlx::SqliteConnection| -> i64 {
            sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(c)
                .await
                .unwrap()
        };
        let mut writer = backend.writer().await.unwrap();
        assert_eq!(checks(writer.0.as_mut().unwrap()).await, 0);
        drop(writer);
        // The writer was closed, not pooled: every pooled connection checks.
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = pool.acquire().await.unwrap();
            assert_eq!(checks(&mut conn).await, 1);
            held.push(conn);
        }
    }

    #[tokio::test]
    async fn an_unknown_store_scheme_names_the_two_that_work() {
        let err = Backend::open("mysql://u:pw@localhost/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sqlite://") && err.contains("postgres://"),
            "{err}"
        );
        assert!(!err.contains("pw@"), "{err}");
    }
}
