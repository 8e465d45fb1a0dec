//! Orchestrating one run: pick the plugins, read through the connector into
//! the mapper chain, plan against the store, apply (or not, for a dry run),
//! and record what happened.

mod candidate;
mod collector;
mod connection;
mod grants;
mod heartbeat;
mod held;
mod hooks;
mod map_stage;
mod outage;
mod parts;
mod prepare;
pub mod progress;
mod quota;
mod read;
mod remote;
mod verify;

use heartbeat::Heartbeat;
use parts::{Planned, RunParts};
use prepare::Prepared;

pub use verify::PasswordCheck;

pub use collector::{Collected, Collector};
pub use hooks::{CallObserver, RunAgainIn};
pub use outage::Backoff;
pub use remote::{RemoteMsg, RemoteRead, RemoteReads};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use arc_swap::ArcSwap;
use serde::Serialize;

use crate::config::Config;
use crate::engine::{self, Plan, Policy, RunMode, RunOutcome};
use crate::model::{ReadMode, ReadSummary};
use crate::registry::Registry;
use crate::runtime::{LoadedPlugin, Runtime};
use crate::store::{ms_since, ApplyContext, LeaseClaim, Phases, RunRecord, Store};

/// The host library's front door: config, runtime, plugins and store.
/// Config and registry are swappable (the daemon reloads them); a run takes
/// a snapshot of both when it starts and keeps it to the end.
pub struct Host {
    config: ArcSwap<Config>,
    pub runtime: Arc<Runtime>,
    registry: ArcSwap<Registry>,
    pub store: Store,
    observer: Option<Arc<dyn CallObserver>>,
    /// Where runs of `runs_on = "agent"` jobs are offered (the daemon's hub).
    remote: Option<Arc<dyn RemoteReads>>,
}

#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub job: String,
    /// The job's tenant; may be left out when no other tenant has a job
    /// with the same id.
    pub tenant: Option<String>,
    pub dry_run: bool,
    /// Force a full read even when an incremental one would do.
    pub full: bool,
    /// Apply even if more users than the threshold would be deactivated.
    pub confirm_deletions: bool,
    /// The id for the run record (the daemon hands it out before the run
    /// starts); a new one when `None`.
    pub run_id: Option<String>,
    /// Set to stop the run at the next batch the connector sends (the
    /// daemon shutting down); the run is recorded as `cancelled`.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Stop reading after this many users (the connection test's sample);
    /// a sampled read is never applied.
    pub sample: Option<usize>,
    /// The job lease this run holds (a daemon node's run): its apply
    /// renews it in its transaction and fails if another node took it.
    pub lease: Option<LeaseClaim>,
    /// Take `lease` as the run starts, in the transaction that records the
    /// run (the CLI's run), instead of holding it already (a node's run).
    pub take_lease: bool,
    /// Updated as the run goes (phase, records read), for live views.
    pub progress: Option<Arc<progress::Progress>>,
}

/// What a run did (or, for a dry run, would do).
#[derive(Debug, Serialize)]
pub struct RunReport {
    pub run: RunRecord,
    pub read: ReadSummary,
    pub plan: Plan,
    /// The connector asked (through `schedule`) for the next run in this
    /// many seconds.
    pub run_again_in: Option<u32>,
}

impl Host {
    pub async fn open(config: Config) -> Result<Host> {
        let runtime = Arc::new(Runtime::new(&config.resolve(&config.plugins.cache_dir))?);
        let plugins_dir = config.resolve(&config.plugins.dir);
        let rt = runtime.clone();
        let policy = config.plugin_policy();
        // The plugins are checked (~10 ms from the compiled cache) while
        // the store opens.
        let registry =
            tokio::task::spawn_blocking(move || Registry::open(&rt, &plugins_dir, policy));
        let store = async {
            let store = Store::open(&config.store_url()).await?;
            store.mark_interrupted_runs().await?;
            anyhow::Ok(store)
        }
        .await;
        let registry = registry.await?;
        for e in &registry.errors {
            tracing::warn!("{e}");
        }
        let store = store?;
        Ok(Host {
            config: ArcSwap::from_pointee(config),
            runtime,
            registry: ArcSwap::from_pointee(registry),
            store,
            observer: None,
            remote: None,
        })
    }

    /// The config now in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Serve a new config; runs in flight keep the one they started with.
    pub fn set_config(&self, config: Config) {
        self.config.store(Arc::new(config));
    }

    /// The plugins now served.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.load_full()
    }

    /// Serve a new set of plugins; runs in flight keep their versions.
    pub fn set_registry(&self, registry: Registry) {
        self.registry.store(Arc::new(registry));
    }

    /// Report plugin call durations to `observer`.
    pub fn set_observer(&mut self, observer: Arc<dyn CallObserver>) {
        self.observer = Some(observer);
    }

    /// Offer agent jobs' runs to `remote` (the daemon's agents hub).
    pub fn set_remote(&mut self, remote: Arc<dyn RemoteReads>) {
        self.remote = Some(remote);
    }

    fn observe(&self, plugin: &str, call: &str, started: Instant) {
        if let Some(o) = &self.observer {
            o.plugin_call(plugin, call, started.elapsed());
        }
    }

    fn plugin(&self, tenant: &str, name: &str, key: &str) -> Result<LoadedPlugin> {
        let registry = self.registry();
        let not_served = match registry.serve(tenant, name) {
            Ok(p) => return Ok(p.clone()),
            Err(reason) => reason,
        };
        let config = self.config();
        let dir = config.resolve(&config.plugins.dir);
        let refused = not_served
            .into_iter()
            .chain(registry.refused().iter().map(ToString::to_string))
            .map(|e| format!("\n  - {e}"))
            .collect::<String>();
        Err(anyhow!(
            "{key} = {name:?}: no plugin with that name is served to tenant {tenant} (put its .wasm in {}; `usersync plugins list` shows what is served){}",
            dir.display(),
            if refused.is_empty() { String::new() } else { format!("; not served:{refused}") }
        ))
    }

    /// Run one sync of a job. Every attempted run of a known job leaves a
    /// run record, one that cannot start (a plugin missing, the store's
    /// cursor unreadable) included, so `runs` and `/runs` say why.
    pub async fn sync(&self, req: &SyncRequest) -> Result<RunReport> {
        self.run(req, None).await
    }

    /// [`Host::sync`], with a candidate mapper in place of a served one.
    async fn run(&self, req: &SyncRequest, candidate: Option<&LoadedPlugin>) -> Result<RunReport> {
        let config = self.config();
        // An unknown job has no tenant to file a record under: a usage error.
        let job = config.job(req.tenant.as_deref(), &req.job)?.clone();
        // Runs of processes that died since are found by their owner, so
        // every process that runs jobs notices them, the daemon included.
        if let Err(e) = self.store.mark_interrupted_runs().await {
            tracing::warn!("cannot check for interrupted runs: {e:#}");
        }
        let started = Instant::now();
        let run_id = req
            .run_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let Prepared {
            connector,
            mappers,
            mode,
        } = match self.prepare(&job, req, candidate).await {
            Ok(p) => p,
            Err(e) => return Err(self.record_not_started(&job, req, &run_id, e).await),
        };
        let run_mode = if mode == ReadMode::Full {
            RunMode::Full
        } else {
            RunMode::Incremental
        };
        let mut run = RunRecord {
            id: run_id,
            tenant_id: job.tenant.clone(),
            job_id: job.id.clone(),
            mode: run_mode,
            dry_run: req.dry_run,
            started_at: crate::store::now(),
            finished_at: None,
            duration_ms: None,
            outcome: RunOutcome::Running,
            message: None,
            counts: None,
            errors: None,
            warnings: None,
            connector_version: Some(connector.label()),
            mapper_versions: Some(
                mappers
                    .iter()
                    .map(|m| candidate::label(m, candidate))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            node: Some(match &req.lease {
                Some(claim) => claim.node.clone(),
                None => config.server.node_name(),
            }),
            phases: None,
        };
        match (&req.lease, req.take_lease) {
            (Some(claim), true) => {
                let take = self.store.take_lease_starting(&run, claim).await?;
                if let Some(why) = take.refusal(&run.tenant_id, &run.job_id) {
                    bail!(why);
                }
            }
            _ => self.store.start_run(&run).await?,
        }
        let _heartbeat = Heartbeat::start(&self.store, &run.id);
        tracing::info!(run = %run.id, tenant = %job.tenant, job = %job.id, mode = %run.mode, dry_run = req.dry_run, "run started");

        let shared = Arc::new(Mutex::new(Collected::default()));
        let phase = |p| {
            if let Some(progress) = &req.progress {
                progress.set_phase(p);
            }
        };
        phase(progress::Phase::Reading);
        let planned = self
            .read_plan(
                &RunParts {
                    config: &config,
                    job: &job,
                    req,
                    connector: &connector,
                    mappers: &mappers,
                    mode: &mode,
                    run_id: &run.id,
                    shared: &shared,
                },
                run_mode,
            )
            .await;
        let mut recorded = false;
        let result = match planned {
            Ok(mut planned) => {
                run.finished_at = Some(crate::store::now());
                run.duration_ms = Some(started.elapsed().as_millis() as i64);
                run.phases = Some(planned.phases);
                run.conclude(&planned.plan);
                match planned.apply.take() {
                    None => Ok(planned),
                    Some(mut ctx) => {
                        // The record commits with the data it describes.
                        ctx.run = Some(run.clone());
                        phase(progress::Phase::Applying);
                        let applying = Instant::now();
                        let applied = self.store.apply(&mut planned.plan, &ctx).await;
                        tracing::debug!(
                            ms = applying.elapsed().as_millis() as u64,
                            rss = rss_mb(),
                            "applied"
                        );
                        // The seat check under the write lock may have
                        // stopped the run (nothing committed) or trimmed it.
                        run.conclude(&planned.plan);
                        recorded = applied.is_ok() && planned.plan.stop.is_none();
                        applied.map(|ms| {
                            // As the record committed with the data says.
                            if recorded {
                                run.applied(ms);
                            }
                            planned
                        })
                    }
                }
            }
            Err(e) => Err(e),
        };
        let report = match result {
            Ok(planned) => Ok(RunReport {
                run: run.clone(),
                read: planned.read,
                plan: planned.plan,
                run_again_in: planned.run_again_in,
            }),
            Err(e) => {
                run.finished_at = Some(crate::store::now());
                run.duration_ms = Some(started.elapsed().as_millis() as i64);
                // Nothing was applied: no counts of changes that did not happen.
                run.counts = None;
                if req
                    .cancel
                    .as_ref()
                    .is_some_and(|c| c.load(Ordering::Relaxed))
                {
                    run.outcome = RunOutcome::Cancelled;
                    run.message = Some(format!(
                        "cancelled: the host is shutting down, so the run stopped at a batch boundary; nothing of it was applied ({e:#})"
                    ));
                    Err(e.context("the run was cancelled (the host is shutting down)"))
                } else {
                    run.outcome = RunOutcome::Failed;
                    run.message = Some(if crate::store::commit_uncertain(&e) {
                        let why = format!(
                            "the store's database at {} went away while the run committed: {e:#}; if the commit reached it, the run's record says `succeeded` and this one is not written; otherwise nothing was applied; the next run converges either way",
                            self.store.location()
                        );
                        tracing::warn!(run = %run.id, tenant = %job.tenant, job = %job.id, "{why}");
                        why
                    } else if crate::store::lost_connection(&e) {
                        let why = format!(
                            "the store's database at {} went away during the run: {e:#}; nothing was applied; the next run retries",
                            self.store.location()
                        );
                        tracing::warn!(run = %run.id, tenant = %job.tenant, job = %job.id, "{why}");
                        why
                    } else {
                        format!("{e:#}")
                    });
                    // A failed read may still have asked for its next run
                    // (e.g. after HTTP 429): keep that for the scheduler.
                    match shared.lock().map(|c| c.run_again_in) {
                        Ok(Some(secs)) => Err(e.context(RunAgainIn(secs))),
                        _ => Err(e),
                    }
                }
            }
        };
        if !recorded {
            outage::finish_run(&self.store, &run).await?;
        }
        phase(progress::Phase::Done);
        let plan = report.as_ref().ok().map(|r| &r.plan);
        crate::notify::run_finished(&run, plan, job.notify.webhook.as_deref()).await;
        report
    }

    async fn read_plan(&self, parts: &RunParts<'_>, run_mode: RunMode) -> Result<Planned> {
        let RunParts {
            config,
            job,
            req,
            connector,
            run_id,
            ..
        } = *parts;
        let tenant = config.tenant(&job.tenant).expect("validated");
        let seats = job
            .sync
            .license_kind
            .as_ref()
            .and_then(|k| tenant.licenses.get(k).copied());
        let mut policy = Policy::from_job(job, seats);
        policy.confirm_deletions = req.confirm_deletions;

        let stored_state = self
            .store
            .plugin_state(&job.tenant, &job.id, &connector.manifest.name)
            .await?
            .into_iter()
            .collect();
        let seats_used = self.store.seats_used(&job.tenant).await?;
        let phase = Instant::now();
        let ((read, collected), current) = self
            .read_and_load(parts, &policy, run_mode, stored_state, seats_used)
            .await?;
        // A connector may ignore the refused batches and report success:
        // a cancelled read is never planned, let alone applied.
        if req
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            anyhow::bail!("the read was stopped before it was planned");
        }
        let mut collected = collected;
        collector::merge_extra_members(&mut collected);
        collected.snapshot.complete = read.complete;
        let read_ms = ms_since(phase);
        tracing::debug!(
            ms = read_ms,
            users = collected.snapshot.users.len(),
            rss = rss_mb(),
            "read, mapped and loaded the store"
        );

        if let Some(progress) = &req.progress {
            progress.set_phase(progress::Phase::Planning);
        }
        let phase = Instant::now();
        let snapshot = std::mem::take(&mut collected.snapshot);
        let mut plan = engine::plan_taking(snapshot, &current, &policy, run_mode);
        // The job's stored rows (100k users' fields at 100k) took ~25 ms
        // to free here, between planning and applying.
        engine::drop_in_background(current);
        plan.warnings.splice(0..0, collected.warnings.drain(..));
        if plan.stop.is_none() {
            if let Some(limit) = config.limits_for(&job.tenant).max_users {
                plan.stop = self.max_users_stop(&job.tenant, &plan, limit).await?;
            }
        }
        let phases = Phases {
            read_ms,
            plan_ms: ms_since(phase),
            apply_ms: None,
        };
        tracing::debug!(ms = phases.plan_ms, rss = rss_mb(), "planned");
        let run_again_in = collected.run_again_in;
        let apply = (!req.dry_run && plan.stop.is_none()).then(|| ApplyContext {
            tenant: job.tenant.clone(),
            job: job.id.clone(),
            run_id: run_id.to_string(),
            cursor: collected.cursor.clone(),
            full: run_mode == RunMode::Full,
            roles: policy
                .roles
                .iter()
                .map(|r| (r.role.clone(), r.kind.clone()))
                .collect(),
            state: collected
                .state
                .into_iter()
                .map(|(k, v)| (connector.manifest.name.clone(), k, v))
                .collect(),
            license: policy.license.clone(),
            run: None,
            lease: req.lease.clone(),
        });
        Ok(Planned {
            read,
            plan,
            run_again_in,
            apply,
            phases,
        })
    }
}

/// Resident memory in MB for the phase logs (Linux; 0 elsewhere): the
/// benchmark's memory target is read off these lines.
fn rss_mb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
        / 1_000_000
}
