//! Command-line interface (clap). Each subcommand is a few lines over the
//! host library; output is a readable table, or JSON with `--json`.

/// `println!` that hands back the write error instead of panicking, so a
/// closed pipe (`usersync users list | head`) ends the command quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod agents;
mod conformance;
mod lease;
mod logging;
mod new_plugin;
mod output;
mod plugins;
mod sync;
mod tenants;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::store::{AuditFilter, Lookup, Store};
use crate::sync::Host;

#[derive(Parser)]
#[command(
    name = "usersync",
    version,
    about = "Keep an application's users and groups in step with the directories an organization runs.\nConnectors and mappers are sandboxed WebAssembly plugins."
)]
struct Cli {
    /// Configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "USERSYNC_CONFIG",
        default_value = "usersync.toml"
    )]
    config: PathBuf,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write an example configuration file, with an example CSV file and
    /// an empty plugins folder next to it (the built-in plugins serve).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Run a sync of one job now.
    Sync(sync::SyncArgs),
    /// Check that a job's source is reachable and configured right.
    TestConnection {
        #[arg(long)]
        job: String,
        /// The job's tenant (needed only when several tenants have the job id).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List, check, test, sign and verify plugins.
    Plugins {
        #[command(subcommand)]
        command: plugins::PluginsCommand,
    },
    /// Tenants of a running daemon, through its admin API: list, show,
    /// create, set (licenses, disabled, a new token), delete.
    Tenants {
        #[command(subcommand)]
        command: tenants::TenantsCommand,
    },
    /// Run as an agent inside a directory's network (config `agent.toml`,
    /// or `-c`): enrol once with `--server URL --enroll CODE`, then run
    /// `usersync agent` as a service.
    Agent(agents::AgentArgs),
    /// A tenant's agents, through a daemon's admin API: enroll, list, revoke.
    Agents {
        #[command(subcommand)]
        command: agents::AgentsCommand,
    },
    /// Past runs; `runs show ID` for one in detail.
    Runs {
        #[command(subcommand)]
        command: Option<RunsCommand>,
        #[arg(long)]
        job: Option<String>,
        /// Only this tenant's runs (needed with --job when several tenants
        /// have the job id).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Users in the target store, and edits by hand.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Groups in the target store, with their members.
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Add an entry to a lookup table (job titles, companies) of a tenant.
    Lookup {
        #[arg(value_parser = ["job-title", "company"])]
        table: String,
        name: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Run as a service: scheduler, hot-reloaded plugins and config, admin
    /// HTTP API with metrics. Stops gracefully on SIGTERM/SIGINT; SIGHUP
    /// reloads the config.
    Serve {
        /// Address of the admin API (overrides server.listen; port 0 picks
        /// a free port, printed on stdout).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check a synced user's directory password by an LDAP bind (for
    /// applications that log people in with their domain password). The
    /// password is read from the terminal, or from stdin with
    /// --password-stdin; it reaches only the directory server.
    /// Exit code 0: accepted, 1: refused (the reason is printed).
    VerifyPassword {
        #[arg(long)]
        job: String,
        /// The job's tenant (needed only when several tenants have the job id).
        #[arg(long)]
        tenant: Option<String>,
        username: String,
        /// Read the password from the first line of stdin (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// The audit trail: every change to users, groups, memberships, roles, licenses.
    Audit {
        #[arg(long)]
        job: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        /// Username, group name or source id.
        #[arg(long)]
        user: Option<String>,
        /// user, group, membership, role or license.
        #[arg(long)]
        kind: Option<String>,
        /// RFC 3339 time, e.g. 2026-11-01T00:00:00Z.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    Show { id: String },
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// Every group: name, active, source id, job, members.
    List {
        #[arg(long)]
        tenant: Option<String>,
        /// Only the groups this job synced.
        #[arg(long)]
        job: Option<String>,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Create a user locally (not by sync).
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Deactivate by hand (a user still active in the source returns next run).
    Deactivate {
        username: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Delete by hand (a user still in the source is recreated next run).
    Delete {
        username: String,
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A service logs what it does; a command only what went wrong.
    let default_log = if matches!(cli.command, Command::Serve { .. } | Command::Agent(_)) {
        "info"
    } else {
        "warn"
    };
    logging::init(default_log);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let outcome = rt.block_on(run(cli));
    // What the command started is done or not needed (a lease's renewal, a
    // polite unbind): waiting for each task to stop held up the end of a
    // sync by up to ~40 ms.
    rt.shutdown_background();
    match outcome {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more to say to anyone.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` comes from writing to a pipe whose reader has closed.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    match cli.command {
        Command::Init { force } => {
            if cli.config.exists() && !force {
                anyhow::bail!(
                    "{} already exists; use --force to overwrite it",
                    cli.config.display()
                );
            }
            std::fs::write(&cli.config, output::EXAMPLE_CONFIG)
                .with_context(|| format!("cannot write {}", cli.config.display()))?;
            outln!("wrote {}", cli.config.display())?;
            for line in output::init_beside(&cli.config)? {
                outln!("{line}")?;
            }
        }
        Command::Sync(args) => {
            let code = sync::sync(&cli.config, json, args).await?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
        Command::TestConnection { job, tenant } => {
            let config = Config::load(&cli.config)?;
            config.job(tenant.as_deref(), &job)?;
            let host = Host::open(config).await?;
            let checks = host.test_connection(tenant.as_deref(), &job).await?;
            let ok = output::checks(&checks, json)?;
            if !ok {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Plugins { command } => {
            return plugins::run(command, &cli.config, json).await;
        }
        Command::Agent(args) => return agents::agent(&cli.config, args).await,
        Command::Agents { command } => return agents::agents(command, json).await,
        Command::Tenants { command } => {
            return tenants::run(command, json).await;
        }
        Command::Runs {
            command,
            job,
            tenant,
            limit,
        } => {
            let config = Config::load(&cli.config)?;
            let tenant = job_tenant(&config, tenant, job.as_deref())?;
            let store = Store::open(&config.store_url()).await?;
            match command {
                None => output::runs(
                    &store.runs(tenant.as_deref(), job.as_deref(), limit).await?,
                    json,
                )?,
                Some(RunsCommand::Show { id }) => {
                    let run = store.find_run(&id).await?.into_run(&id)?.with_context(|| {
                        format!(
                            "no run {id:?}; give its id, or at least the first {} characters of it (`usersync runs` lists them)",
                            crate::store::MIN_RUN_PREFIX
                        )
                    })?;
                    output::run_detail(&run, json)?;
                }
            }
        }
        Command::Users { command } => {
            let store = open_store(&cli.config).await?;
            match command {
                UsersCommand::List { tenant } => {
                    output::users(&store.users(tenant.as_deref()).await?, json)?
                }
                UsersCommand::Add {
                    username,
                    email,
                    tenant,
                } => {
                    store
                        .add_local_user(&tenant, &username, email.as_deref())
                        .await?
                }
                UsersCommand::Deactivate { username, tenant } => {
                    if !store.deactivate_user(&tenant, &username).await? {
                        anyhow::bail!("no user {username:?} in tenant {tenant:?}");
                    }
                }
                UsersCommand::Delete { username, tenant } => {
                    store.delete_user(&tenant, &username).await?
                }
            }
        }
        Command::Groups {
            command: GroupsCommand::List { tenant, job },
        } => {
            let store = open_store(&cli.config).await?;
            let mut groups = store.groups(tenant.as_deref()).await?;
            groups.retain(|g| job.as_ref().is_none_or(|j| &g.job_id == j));
            store.with_member_names(&mut groups).await?;
            output::groups(&groups, json)?;
        }
        Command::Lookup {
            table: table_name,
            name,
            tenant,
        } => {
            let store = open_store(&cli.config).await?;
            let table = if table_name == "company" {
                Lookup::Company
            } else {
                Lookup::JobTitle
            };
            let added = store.add_lookup(&tenant, table, &name).await?;
            output::lookup(&table_name, &name, &tenant, added, json)?;
        }
        Command::VerifyPassword {
            job,
            tenant,
            username,
            password_stdin,
        } => {
            let config = Config::load(&cli.config)?;
            // Refuse an ambiguous job before asking for the password.
            config.job(tenant.as_deref(), &job)?;
            let password = verify::read_password(&username, password_stdin)?;
            let host = Host::open(config).await?;
            let check = host
                .verify_password(tenant.as_deref(), &job, &username, &password)
                .await?;
            return verify::report(&check, json);
        }
        Command::Serve { listen } => {
            let clean = crate::daemon::serve(crate::daemon::ServeOptions {
                config_path: cli.config,
                listen,
            })
            .await?;
            if !clean {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit {
            job,
            tenant,
            user,
            kind,
            since,
            limit,
        } => {
            let config = Config::load(&cli.config)?;
            let tenant = job_tenant(&config, tenant, job.as_deref())?;
            let store = Store::open(&config.store_url()).await?;
            let rows = store
                .audit(&AuditFilter {
                    tenant,
                    job,
                    subject: user,
                    category: kind,
                    since,
                    limit,
                })
                .await?;
            output::audit(&rows, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tenant to filter a listing by: the one given, or, for a `--job`
/// filter alone, the tenant of that job. A job id several tenants use needs
/// `--tenant`; an id no longer in the config (old runs) filters by id only.
fn job_tenant(
    config: &Config,
    tenant: Option<String>,
    job: Option<&str>,
) -> Result<Option<String>> {
    match (tenant, job) {
        (None, Some(job)) if config.jobs.iter().any(|j| j.id == job) => {
            Ok(Some(config.job(None, job)?.tenant.clone()))
        }
        (tenant, _) => Ok(tenant),
    }
}

async fn open_store(config: &std::path::Path) -> Result<Store> {
    let config = Config::load(config)?;
    Store::open(&config.store_url()).await
}

/// Where `plugins check` caches compiled plugins: this user's own cache
/// folder (`$XDG_CACHE_HOME` or `~/.cache`), never a shared temp folder
/// others could plant native code in. The runtime checks the folder's
/// owner and mode either way, and does not use it if they are wrong.
fn check_cache_dir() -> std::path::PathBuf {
    let user_cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| std::path::PathBuf::from(h).join(".cache"))
        })
        .filter(|d| d.is_absolute());
    match user_cache {
        Some(dir) => dir.join("usersync").join("check-cache"),
        // SAFETY: geteuid has no preconditions and cannot fail.
        None => std::env::temp_dir().join(format!("usersync-check-cache-{}", unsafe {
            libc::geteuid()
        })),
    }
}
