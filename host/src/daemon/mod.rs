//! `usersync serve`: the long-running service. It wires together the
//! scheduler (`scheduler.rs`), the run guard and retries (`jobs.rs`), config
//! reload (`reload.rs`), plugin hot reload (`plugins.rs`, over `watch.rs`),
//! metrics (`metrics.rs`), job leases shared with other nodes on the same
//! store (`lease.rs`), the database's reachability (`store_watch.rs`) and
//! the admin HTTP API (`api/`), and shuts down
//! gracefully on SIGTERM/SIGINT: no new runs, runs in flight stop at their
//! next batch and record an honest outcome, then the process exits.

pub mod agents;
pub mod api;
pub mod console;
mod fair;
pub mod jobs;
mod lease;
pub mod managed;
pub mod metrics;
mod plugins;
pub mod quota;
pub mod reload;
mod scheduler;
mod store_watch;
pub mod tls;
mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

use crate::config::{Config, JobKey};
use crate::sync::Host;
use jobs::JobState;
use metrics::Metrics;
use reload::ConfigStatus;

/// What `usersync serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config_path: PathBuf,
    /// Overrides `server.listen`.
    pub listen: Option<String>,
}

/// Lock a mutex of the daemon even if a task panicked while holding it: the
/// state it guards is plain data that stays consistent between statements,
/// and one panic must not take every later request and run down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything the daemon's tasks share.
pub struct Daemon {
    pub host: Arc<Host>,
    pub metrics: Arc<Metrics>,
    /// By (tenant, job): job ids are unique only within a tenant.
    jobs: Mutex<HashMap<JobKey, JobState>>,
    refusals: plugins::Refusals,
    /// Each tenant's run starts in the last hour (`runs_per_hour`).
    /// The tenant the scheduler started a run for last (fair rounds).
    served_last: Mutex<Option<String>>,
    config_path: PathBuf,
    config_status: Mutex<ConfigStatus>,
    /// Digests of the API tokens in force (operator and tenants).
    tokens: ArcSwap<api::auth::Tokens>,
    /// The config file as loaded, before the API's tenants are merged in.
    file_config: Mutex<Arc<Config>>,
    /// Tenants, jobs and plugins made through the API, as last read.
    managed: Mutex<Arc<crate::store::Managed>>,
    /// One refresh of the managed state at a time.
    managed_refresh: tokio::sync::Mutex<()>,
    /// Seals secrets given through the API; `None`: such secrets are refused.
    pub seal_key: Option<crate::secret::seal::SealKey>,
    /// Agent runs waiting for, or held by, an agent.
    pub agents: agents::Hub,
    /// The address the API is bound to.
    pub listen: SocketAddr,
    /// This node's name (`server.node`) in leases, run records and metrics.
    pub node: String,
    /// Whether the store's database answers (`store_watch.rs`).
    store_up: AtomicBool,
    pub started_at: DateTime<Utc>,
    shutting_down: AtomicBool,
    /// Wakes the scheduler (a run ended, the config changed, shutdown).
    wake: Notify,
    run_ended: Notify,
    /// The plans of the last dry runs, for the console's diff view.
    pub dry_runs: console::DryRuns,
    /// The console's signed-in sessions.
    pub console: console::Sessions,
}

impl Daemon {
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub fn config_status(&self) -> ConfigStatus {
        lock(&self.config_status).clone()
    }
}

/// Run the daemon until SIGTERM/SIGINT. `Ok(true)`: every run in flight
/// stopped cleanly; `Ok(false)`: the shutdown grace period ran out.
pub async fn serve(opts: ServeOptions) -> Result<bool> {
    // Absolute, so reloads and watched paths agree whatever the cwd.
    let config_path = std::path::absolute(&opts.config_path)?;
    let config = Config::load(&config_path)?;
    let listen: SocketAddr = match &opts.listen {
        Some(l) => l
            .parse()
            .with_context(|| format!("--listen {l:?} is not an address like 127.0.0.1:8080"))?,
        None => config.server.listen_addr()?,
    };
    let tokens = api::auth::resolve_tokens(&config)?;
    let no_token = !tokens.has_operator();
    if no_token && !listen.ip().is_loopback() {
        bail!(
            "the API would listen on {listen} without a token: set server.token \
             (e.g. token = {{ env = \"USERSYNC_API_TOKEN\" }}) or USERSYNC_API_TOKEN, or listen on 127.0.0.1"
        );
    }
    let seal_key = crate::secret::seal::SealKey::load(
        config
            .server
            .secret_key_file
            .as_ref()
            .map(|f| config.resolve(f))
            .as_deref(),
    )?;
    let file_config = Arc::new(config.clone());
    let plugins_dir = config.resolve(&config.plugins.dir);
    let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
    let node = config.server.node_name();
    let metrics = Arc::new(Metrics::new());
    metrics.node_info(&node, env!("CARGO_PKG_VERSION"));
    let tls = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(
            &config.resolve(cert),
            &config.resolve(key),
        )?),
        _ => None,
    };
    let mut host = Host::open(config).await?;
    host.set_observer(metrics.clone());
    let agent_hub = agents::Hub::default();
    host.set_remote(Arc::new(agent_hub.clone()));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let listen = listener.local_addr()?;
    let daemon = Arc::new(Daemon {
        host: Arc::new(host),
        metrics,
        jobs: Mutex::new(HashMap::new()),
        refusals: plugins::Refusals::default(),
        served_last: Mutex::new(None),
        config_status: Mutex::new(ConfigStatus {
            path: config_path.clone(),
            loaded_at: Utc::now(),
            last_error: None,
            last_error_at: None,
        }),
        config_path,
        tokens: ArcSwap::from_pointee(tokens),
        file_config: Mutex::new(file_config),
        managed: Mutex::new(Arc::default()),
        managed_refresh: tokio::sync::Mutex::new(()),
        seal_key,
        agents: agent_hub,
        listen,
        node,
        store_up: AtomicBool::new(true),
        started_at: Utc::now(),
        shutting_down: AtomicBool::new(false),
        wake: Notify::new(),
        run_ended: Notify::new(),
        dry_runs: console::DryRuns::default(),
        console: console::Sessions::default(),
    });
    if no_token {
        tracing::warn!("no API token configured (server.token or USERSYNC_API_TOKEN): anyone on this machine can use the API on {listen}");
    }
    daemon.note_initial_plugins();

    std::fs::create_dir_all(&plugins_dir)
        .with_context(|| format!("cannot create the plugins folder {}", plugins_dir.display()))?;
    let plugin_watch = watch::Watch::new(&plugins_dir, true)?;
    tokio::spawn(plugins::watch(daemon.clone(), plugins_dir, plugin_watch));
    let config_dir = daemon
        .config_path
        .parent()
        .unwrap_or(std::path::Path::new("."));
    let config_watch = watch::Watch::new(config_dir, false)?;
    tokio::spawn(reload::watch(daemon.clone(), config_watch));
    tokio::spawn(store_watch::watch(daemon.clone()));
    // After the plugin watcher starts, so it sees the uploaded plugin files
    // this writes; before the scheduler, so it schedules the API's jobs.
    daemon
        .refresh_managed()
        .await
        .context("cannot read the tenants made through the API from the store")?;
    tokio::spawn(managed::poll(daemon.clone()));
    let scheduler = tokio::spawn(scheduler::run(daemon.clone()));

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let app = api::router(daemon.clone());
    let stopped = async move {
        let _ = http_stopped.await;
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let server = match tls {
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, tls)?;
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }),
    };
    // Before the line below: once a script sees it, a SIGHUP must reload,
    // not take the default action (exit).
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    // Scripts and tests read this line to find the port (`--listen 127.0.0.1:0`).
    // A closed stdout must not take the service down: the line is a courtesy.
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stdout().lock(),
            "usersync serve: listening on {scheme}://{listen}"
        );
    }
    tracing::info!(
        "listening on {scheme}://{listen} as node {}; {} jobs, {} plugins",
        daemon.node,
        daemon.host.config().jobs.len(),
        daemon.host.registry().served_count()
    );

    let why = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => reload::reload(&daemon, "SIGHUP"),
        }
    };

    // No new runs; runs in flight stop at their next batch.
    daemon.shutting_down.store(true, Ordering::Relaxed);
    daemon.wake.notify_one();
    let in_flight = daemon.cancel_all();
    tracing::info!(
        "{why}: shutting down; runs in flight: {in_flight} (they stop at their next batch)"
    );
    let clean = tokio::select! {
        _ = daemon.idle() => true,
        _ = tokio::time::sleep(grace) => {
            tracing::error!("runs still in flight after server.shutdown_grace_seconds = {}; exiting anyway (the next start marks them interrupted)", grace.as_secs());
            false
        }
        _ = term.recv() => false,
        _ = int.recv() => false,
    };
    let _ = stop_http.send(());
    let _ = scheduler.await;
    if let Ok(Err(e)) = server.await {
        tracing::warn!("the API server stopped with an error: {e}");
    }
    tracing::info!("stopped");
    Ok(clean)
}
