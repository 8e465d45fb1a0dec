//! What is settled before a run starts: its plugins and its read mode,
//! and the record of a run that could not start.

use anyhow::{Context, Result};

use super::{candidate, Host, SyncRequest};
use crate::config::JobConfig;
use crate::engine::{RunMode, RunOutcome};
use crate::model::ReadMode;
use crate::runtime::LoadedPlugin;
use crate::store::RunRecord;

/// What can fail before a run starts, resolved.
pub(super) struct Prepared {
    pub connector: LoadedPlugin,
    pub mappers: Vec<LoadedPlugin>,
    pub mode: ReadMode,
}

impl Host {
    /// The plugins and the read mode of a run: what can fail before it starts.
    pub(super) async fn prepare(
        &self,
        job: &JobConfig,
        req: &SyncRequest,
        candidate: Option<&LoadedPlugin>,
    ) -> Result<Prepared> {
        let connector = self.plugin(&job.tenant, &job.connector, "connector")?;
        let slot = candidate.map(|c| candidate::slot(job, c)).transpose()?;
        let mappers = job
            .mappers
            .iter()
            .enumerate()
            .map(|(i, m)| match candidate {
                Some(c) if slot == Some(i) => Ok(c.clone()),
                _ => self.plugin(&job.tenant, m, "mappers"),
            })
            .collect::<Result<Vec<_>>>()?;

        let (cursor, last_full) = self
            .store
            .job_cursor(&job.tenant, &job.id)
            .await
            .context("cannot read the job's cursor from the store")?;
        // Incremental only for connectors that can read changes, with a
        // cursor, and when the periodic full run (which sees deletions) is
        // not due.
        let can_increment = connector
            .manifest
            .capabilities
            .iter()
            .any(|c| c == "incremental");
        let mode = match (&cursor, req.full) {
            (Some(c), false)
                if can_increment
                    && !full_run_due(last_full.as_deref(), job.sync.full_every_hours) =>
            {
                ReadMode::Incremental(c.clone())
            }
            _ => ReadMode::Full,
        };
        Ok(Prepared {
            connector,
            mappers,
            mode,
        })
    }

    /// Record a run that could not start as failed, with its reason; the
    /// error is handed back for the caller.
    pub(super) async fn record_not_started(
        &self,
        job: &JobConfig,
        req: &SyncRequest,
        run_id: &str,
        e: anyhow::Error,
    ) -> anyhow::Error {
        let now = crate::store::now();
        let run = RunRecord {
            id: run_id.to_string(),
            tenant_id: job.tenant.clone(),
            job_id: job.id.clone(),
            // Unknown before its plugins are there; `full` as a full run
            // is what a first or repaired run does.
            mode: RunMode::Full,
            dry_run: req.dry_run,
            started_at: now.clone(),
            finished_at: Some(now),
            duration_ms: Some(0),
            outcome: RunOutcome::Failed,
            message: Some(format!("the run could not start: {e:#}")),
            counts: None,
            errors: None,
            warnings: None,
            connector_version: None,
            mapper_versions: None,
            node: Some(self.config().server.node_name()),
            phases: None,
        };
        let stored = async {
            self.store.start_run(&run).await?;
            self.store.finish_run(&run).await
        };
        if let Err(store_error) = stored.await {
            tracing::warn!(job = %job.id, "cannot record the run that could not start: {store_error:#}");
        }
        crate::notify::run_finished(&run, None, job.notify.webhook.as_deref()).await;
        e
    }
}

fn full_run_due(last_full: Option<&str>, every_hours: f64) -> bool {
    let Some(last) = last_full.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) else {
        return true;
    };
    let age = chrono::Utc::now().signed_duration_since(last);
    age.num_seconds() as f64 >= every_hours * 3600.0
}
