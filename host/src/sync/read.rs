//! The read half of a run: the connector and the mapper chain run on a
//! blocking thread (wasm calls block), streaming batches into the collector.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::task::JoinHandle;

use super::grants::grant;
use super::map_stage::{MapStage, Mapping};
use super::{Collected, Collector, Host, RunParts};
use crate::config::RunsOn;
use crate::engine::{self, Current, Policy, RunMode, Snapshot};
use crate::model::ReadSummary;
use crate::runtime::{CallContext, ConnectorInstance, LoadedPlugin, MapperInstance};
use crate::store::FieldsLoaded;

impl Host {
    /// Read the job while the store's state for it loads, and return both.
    /// Neither touches what the other does, and on two cores the load hides
    /// behind the read. An incremental read that reports nothing plans
    /// nothing: such a run loads the job's rows only once its read reports
    /// something, and with no rule that acts in every run, never.
    pub(super) async fn read_and_load(
        &self,
        parts: &RunParts<'_>,
        policy: &Policy,
        run_mode: RunMode,
        stored_state: HashMap<String, Vec<u8>>,
        seats_used: HashMap<String, u32>,
    ) -> Result<((ReadSummary, Collected), Current)> {
        let job = parts.job;
        let reported = Arc::new(tokio::sync::Notify::new());
        let mut reading = self.spawn_read(parts, stored_state, seats_used, reported.clone());
        // An incremental run compares the fields of the few users it read:
        // those are loaded once the read is done.
        let fields = match run_mode {
            RunMode::Full => FieldsLoaded::All,
            RunMode::Incremental => FieldsLoaded::Later,
        };
        let license_kind = job.sync.license_kind.as_deref();
        let loading = self
            .store
            .load_current(&job.tenant, &job.id, license_kind, fields);
        let mut loading = std::pin::pin!(loading);
        let mut finished_first = None;
        if !engine::needs_current(&Snapshot::default(), policy, run_mode) {
            tokio::select! {
                read = &mut reading => finished_first = Some(read),
                () = reported.notified() => {}
            }
        }
        let (read, loaded) = match finished_first {
            Some(read) => (read, None),
            None => {
                let (read, current) = tokio::join!(reading, &mut loading);
                (read, Some(current))
            }
        };
        // A read error names the problem better than a store error would.
        let (summary, collected) = read.context("the read task panicked")??;
        let current = match loaded {
            Some(current) => current?,
            None if !engine::needs_current(&collected.snapshot, policy, run_mode)
                && !self.store.job_holds_roles(&job.tenant, &job.id).await? =>
            {
                tracing::debug!("the read reported nothing: the job's rows were not loaded");
                Current::default()
            }
            None => loading.await?,
        };
        let mut current = current;
        if fields == FieldsLoaded::Later {
            let ids: Vec<&str> = collected
                .snapshot
                .users
                .iter()
                .map(|u| u.id.as_str())
                .collect();
            self.store
                .load_user_fields(&job.tenant, &job.id, &mut current, &ids)
                .await?;
        }
        Ok(((summary, collected), current))
    }

    /// Start reading `connector` through `mappers`; the handle yields the
    /// connector's summary and everything the collector gathered.
    /// `seats_used` is what `licensing.seats()` reports as used, by kind.
    pub(super) fn spawn_read(
        &self,
        parts: &RunParts<'_>,
        stored_state: HashMap<String, Vec<u8>>,
        seats_used: HashMap<String, u32>,
        reported: Arc<tokio::sync::Notify>,
    ) -> JoinHandle<Result<(ReadSummary, Collected)>> {
        let RunParts {
            config,
            job,
            req,
            connector,
            mappers,
            mode,
            run_id,
            shared,
        } = *parts;
        let tenant = config.tenant(&job.tenant).expect("validated");
        let rt = self.runtime.clone();
        let (job, connector, mappers, mode) = (
            job.clone(),
            connector.clone(),
            mappers.to_vec(),
            mode.clone(),
        );
        let limits = config.limits_for(&job.tenant);
        let grant = grant(config, &job);
        let observer = self.observer.clone();
        let cancel = req.cancel.clone();
        let progress = req.progress.clone();
        let cancel_remote = req.cancel.clone();
        let sample = req.sample;
        let run_id = run_id.to_string();
        let shared = shared.clone();
        let known = super::collector::KnownUsers {
            store: self.store.clone(),
            tenant: job.tenant.clone(),
            job: job.id.clone(),
            rt: tokio::runtime::Handle::current(),
        };
        let seats_info: Vec<(String, u32, u32)> = tenant
            .licenses
            .iter()
            .map(|(k, v)| (k.clone(), *v, seats_used.get(k).copied().unwrap_or(0)))
            .collect();
        // An agent job's read happens in an agent: offer it now, so the
        // agent's connector runs while the store loads.
        let remote = if job.runs_on == RunsOn::Agent {
            let offered = match &self.remote {
                Some(hub) => hub.offer(super::remote::work_item(
                    &job,
                    &connector,
                    &mode,
                    &run_id,
                    &stored_state,
                    &seats_info,
                    limits,
                ), &config.server),
                None => Err(anyhow::anyhow!(
                    "job {} runs on an agent (runs_on = \"agent\"): only `usersync serve` can run it, where the agent connects",
                    job.id
                )),
            };
            Some(offered)
        } else {
            None
        };
        tokio::task::spawn_blocking(move || -> Result<(ReadSummary, Collected)> {
            let remote = remote.transpose()?;
            let ctx = |p: &LoadedPlugin| CallContext {
                tenant: job.tenant.clone(),
                job: job.id.clone(),
                run: run_id.clone(),
                plugin: p.manifest.name.clone(),
                version: p.manifest.version.clone(),
            };
            let mapping = job.mapping_json();
            let observe = |plugin: &str, call: &str, started: Instant| {
                if let Some(o) = &observer {
                    o.plugin_call(plugin, call, started.elapsed());
                }
            };
            let mapper_instances = mappers
                .iter()
                .map(|m| {
                    let started = Instant::now();
                    let instance = MapperInstance::new(&rt, m, &limits, ctx(m), &mapping);
                    observe(&m.manifest.name, "configure", started);
                    instance
                })
                .collect::<Result<Vec<_>>>()?;
            let budget = super::held::ReadBudget::new(
                usize::try_from(limits.max_read_mb)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
            );
            let stage = MapStage {
                mappers: mapper_instances,
                observer: observer.clone(),
                mapper_names: mappers.iter().map(|m| m.manifest.name.clone()).collect(),
                user_filter: job.sync.user_filter.as_ref().map(|f| {
                    (
                        f.attribute.clone(),
                        regex::Regex::new(&f.pattern).expect("validated"),
                    )
                }),
                shared: shared.clone(),
                budget: budget.clone(),
                sample,
            };
            let sink = Collector {
                shared: shared.clone(),
                mapping: Some(Mapping::start(stage)?),
                cancel,
                progress,
                seats: seats_info,
                stored_state,
                budget,
                fatal: None,
                reported,
                known,
            };
            let started = Instant::now();
            let read = match remote {
                Some(remote) => {
                    super::remote::replay(remote, Box::new(sink), cancel_remote, &job.id)
                }
                None => {
                    let mut instance =
                        ConnectorInstance::new(&rt, &connector, &limits, ctx(&connector), &grant)?;
                    let read = instance.read(&job.source_json(), &mode, Box::new(sink));
                    // Linear memory never shrinks: this is the read's peak.
                    tracing::info!(
                        connector = %connector.manifest.name,
                        memory_mib = instance.memory_bytes() >> 20,
                        "the connector's linear memory after its read"
                    );
                    drop(instance);
                    read
                }
            };
            observe(&connector.manifest.name, "read", started);
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "the connector's read and the mappers are done"
            );
            let take = || std::mem::take(&mut *shared.lock().expect("collector lock"));
            // The collector was dropped with the read, so the mapper stage
            // has mapped everything queued; a failure in its last batches
            // fails the run even though the connector finished.
            let mapping_failed = shared.lock().expect("collector lock").mapping_failed.take();
            if let (Ok(_), Some(why)) = (&read, mapping_failed) {
                return Err(anyhow::anyhow!(why));
            }
            match read {
                Ok(read) => Ok((read, take())),
                // A sample that is complete stopped the read on purpose.
                Err(_) if shared.lock().expect("collector lock").sampled => {
                    Ok((ReadSummary::default(), take()))
                }
                // What the read gathered stays for the caller (e.g. a
                // plugin's request to run again later).
                Err(e) => Err(e),
            }
        })
    }
}
