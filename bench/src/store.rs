//! Which store a benchmarked usersync writes to: the embedded SQLite file, or a database in a
//! throwaway PostgreSQL cluster (Debian's package, `initdb` in a temp folder, loopback only,
//! started once per bench run by `ldap_harness::Postgres`). The same figures are taken on
//! each, side by side, so their ratio compares two runs of one directory on one machine.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::ValueEnum;
use ldap_harness::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// `--store`: where the main directory's syncs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreChoice {
    Sqlite,
    Postgres,
    /// Both, side by side on the same directory (SQLite first)
    Both,
}

impl StoreChoice {
    pub fn kinds(self) -> Vec<Kind> {
        match self {
            StoreChoice::Sqlite => vec![Kind::Sqlite],
            StoreChoice::Postgres => vec![Kind::Postgres],
            StoreChoice::Both => vec![Kind::Sqlite, Kind::Postgres],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    /// As the report names it ("1. full sync into SQLite").
    pub fn label(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }

    /// As the JSON figures and folder names name it.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

/// One benchmarked installation's store.
pub enum Target {
    Sqlite(PathBuf),
    /// A database of the shared throwaway cluster.
    Postgres {
        server: Arc<Postgres>,
        database: String,
    },
}

/// mode, outcome, counts (JSON), duration in ms, phases (JSON) of a run record.
pub type LastRun = (String, String, Option<String>, Option<i64>, Option<String>);

/// An open connection pool on either store, for reading what a run wrote.
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Target {
    /// A store of `kind` for the installation in `dir`; `server` is the cluster for PostgreSQL.
    pub fn new(kind: Kind, dir: &Path, server: Option<&Arc<Postgres>>) -> Result<Target> {
        Ok(match kind {
            Kind::Sqlite => Target::Sqlite(dir.join("store.db")),
            Kind::Postgres => {
                let server = server.context("no PostgreSQL cluster was started")?.clone();
                let database = server.create_database()?;
                Target::Postgres { server, database }
            }
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Target::Sqlite(_) => Kind::Sqlite,
            Target::Postgres { .. } => Kind::Postgres,
        }
    }

    /// `[store] url` for the installation's config.
    pub fn url(&self) -> String {
        match self {
            Target::Sqlite(db) => format!("sqlite://{}", db.display()),
            Target::Postgres { server, database } => server.url(database),
        }
    }

    /// Forget everything synced: the next sync starts from an empty store (and migrates it).
    pub fn reset(&self) -> Result<()> {
        match self {
            Target::Sqlite(db) => {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
                }
            }
            Target::Postgres { server, database } => {
                server.psql(database, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")?;
            }
        }
        Ok(())
    }

    /// Copy a SQLite store aside, to time a run several times from the same state
    /// ([`Target::restore`]); `false` for PostgreSQL, whose runs are timed once.
    pub fn save(&self) -> Result<bool> {
        let Target::Sqlite(db) = self else {
            return Ok(false);
        };
        copy_store(db, "", ".saved")?;
        Ok(true)
    }

    /// Put back what [`Target::save`] copied aside.
    pub fn restore(&self) -> Result<()> {
        let Target::Sqlite(db) = self else {
            anyhow::bail!("only a SQLite store is copied aside");
        };
        self.reset()?;
        copy_store(db, ".saved", "")
    }

    /// A small read-only pool on the store.
    pub async fn open(&self) -> Result<Pool> {
        Ok(match self {
            Target::Sqlite(db) => {
                let opts = SqliteConnectOptions::from_str(&self.url())?.read_only(true);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(opts)
                        .await
                        .with_context(|| format!("open the store {}", db.display()))?,
                )
            }
            Target::Postgres { database, .. } => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.url())
                    .await
                    .with_context(|| format!("open the PostgreSQL store {database}"))?,
            ),
        })
    }
}

impl Pool {
    /// One text value from a query with one `$1` text parameter; `sqlite` and `postgres` are
    /// the same query in each dialect (their JSON aggregates differ).
    pub async fn text(&self, sqlite: &str, postgres: &str, param: &str) -> Result<String> {
        Ok(match self {
            Pool::Sqlite(p) => sqlx::query_scalar(sqlite).bind(param).fetch_one(p).await?,
            Pool::Postgres(p) => {
                sqlx::query_scalar(postgres)
                    .bind(param)
                    .fetch_one(p)
                    .await?
            }
        })
    }

    /// The newest run record's mode, outcome, counts, duration and phases (JSON).
    pub async fn last_run(&self) -> Result<LastRun> {
        const SQL: &str = "SELECT mode, outcome, counts, duration_ms, phases FROM runs ORDER BY started_at DESC LIMIT 1";
        Ok(match self {
            Pool::Sqlite(p) => sqlx::query_as(SQL).fetch_one(p).await?,
            Pool::Postgres(p) => sqlx::query_as(SQL).fetch_one(p).await?,
        })
    }

    pub async fn close(self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// Copy the SQLite store `db` (its file and its log) from the names ending in `from` to those
/// ending in `to`; a file missing at `from` leaves none at `to`.
fn copy_store(db: &Path, from: &str, to: &str) -> Result<()> {
    for ext in ["", "-wal"] {
        let (from, to) = (
            format!("{}{from}{ext}", db.display()),
            format!("{}{to}{ext}", db.display()),
        );
        let _ = std::fs::remove_file(&to);
        if Path::new(&from).exists() {
            std::fs::copy(&from, &to).with_context(|| format!("copy {from} to {to}"))?;
        }
    }
    Ok(())
}
