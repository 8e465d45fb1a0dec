//! One work item: get the plugin (cached by hash), run the connector in the
//! sandbox with this machine's grants, post its calls in numbered batches
//! (retrying a batch the server did not answer: it takes each number
//! once), beat while the read is slow, and say how the read ended.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::StatusCode;

use super::client::{refusal, Client};
use super::plugins::PluginCache;
use super::protocol::{decode_bytes, Finish, ReadEnd, WorkItem};
use super::sink::{BatchSink, Stop};
use super::AgentConfig;
use crate::model::ReadMode;
use crate::runtime::{CallContext, ConnectorInstance};

/// Run `work` to its end; the error (if any) is what the agent reports.
pub async fn run(
    config: Arc<AgentConfig>,
    client: Client,
    plugins: Arc<PluginCache>,
    work: WorkItem,
) -> Result<()> {
    let run = work.run_id.clone();
    let prepared = prepare(&config, &client, &plugins, &work).await;
    let (plugin, grant) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let end = ReadEnd::Failed {
                message: format!("{e:#}"),
            };
            let _ = client
                .finish(
                    &run,
                    &Finish {
                        batches: 0,
                        outcome: end,
                    },
                )
                .await;
            return Err(e);
        }
    };
    let stored = work
        .state
        .iter()
        .map(|(k, v)| Ok((k.clone(), decode_bytes(v).map_err(|e| anyhow!(e))?)))
        .collect::<Result<HashMap<_, _>>>()?;
    let stop: Stop = Arc::default();
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(2);
    let retry_for = Duration::from_secs(work.heartbeat_seconds.saturating_mul(3).max(3));
    let sender = tokio::spawn(send_batches(
        client.clone(),
        run.clone(),
        rx,
        stop.clone(),
        retry_for,
    ));
    let beat = tokio::spawn(beat(
        client.clone(),
        run.clone(),
        stop.clone(),
        Duration::from_secs(work.heartbeat_seconds.max(1)),
    ));
    let target = usize::try_from(config.batch_kb)
        .unwrap_or(usize::MAX)
        .saturating_mul(1024);
    let sink = BatchSink::new(
        target,
        work.max_batch_bytes,
        tx,
        stop.clone(),
        stored,
        work.seats.clone(),
    );
    let rt = plugins.runtime();
    let ctx = CallContext {
        tenant: work.tenant.clone(),
        job: work.job.clone(),
        run: run.clone(),
        plugin: plugin.manifest.name.clone(),
        version: plugin.manifest.version.clone(),
    };
    let mode = match &work.cursor {
        None => ReadMode::Full,
        Some(c) => ReadMode::Incremental(c.clone()),
    };
    let (limits, source) = (work.limits, work.source.clone());
    let read = tokio::task::spawn_blocking(move || {
        let mut instance = ConnectorInstance::new(&rt, &plugin, &limits, ctx, &grant)?;
        instance.read(&source, &mode, Box::new(sink))
    })
    .await
    .context("the connector's thread panicked")?;
    // The sink is gone: the sender posts what is left, then ends.
    let sent = sender.await.context("the batch sender panicked")?;
    beat.abort();
    let why = stop.lock().ok().and_then(|s| s.clone());
    let batches = match (sent, why) {
        (Ok(n), None) => n,
        (_, Some(why)) => bail!("run {run} stopped: {why}"),
        (Err(e), None) => return Err(e),
    };
    let outcome = match &read {
        Ok(r) => ReadEnd::Ok {
            users: r.users,
            groups: r.groups,
            complete: r.complete,
        },
        Err(e) => ReadEnd::Failed {
            message: format!("{e:#}"),
        },
    };
    client
        .finish(&run, &Finish { batches, outcome })
        .await
        .with_context(|| format!("run {run}: the server did not take the end of the read"))?;
    read.map(|r| {
        tracing::info!(run = %run, job = %work.job, users = r.users, groups = r.groups, batches, "read sent");
    })
}

/// The plugin (downloaded once per hash) and this machine's grant.
async fn prepare(
    config: &AgentConfig,
    client: &Client,
    plugins: &PluginCache,
    work: &WorkItem,
) -> Result<(crate::runtime::LoadedPlugin, crate::runtime::Grant)> {
    let grant = config.grant(&work.job).ok_or_else(|| {
        anyhow!(
            "this agent has no settings for job {} ([jobs.{}] in its config)",
            work.job,
            work.job
        )
    })?;
    work.limits
        .validate("the server's limits")
        .context("the work item's limits are out of range")?;
    let plugin = plugins.get(client, &work.plugin).await?;
    Ok((plugin, grant))
}

/// Post every batch in order; each is retried until the server answers
/// (at most `retry_for`), since it takes each number once. Returns how
/// many were sent; a refusal is put in `stop` and drains the rest.
async fn send_batches(
    client: Client,
    run: String,
    mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    stop: Stop,
    retry_for: Duration,
) -> Result<u64> {
    let mut seq = 0u64;
    while let Some(body) = rx.recv().await {
        if stop.lock().map(|s| s.is_some()).unwrap_or(true) {
            continue; // drain: the connector stops at its next call
        }
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(200);
        loop {
            match client.batch(&run, seq, body.clone()).await {
                Ok(()) => break,
                Err(e) if refusal(&e).is_some() || started.elapsed() >= retry_for => {
                    if let Ok(mut s) = stop.lock() {
                        s.get_or_insert_with(|| format!("batch {seq}: {e:#}"));
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(run = %run, seq, "batch not answered, retrying: {e:#}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        seq += 1;
    }
    Ok(seq)
}

/// Tell the server the run is alive; a run it no longer knows stops.
async fn beat(client: Client, run: String, stop: Stop, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = client.beat(&run).await {
            let gone = refusal(&e).is_some_and(|r| {
                r.status == StatusCode::NOT_FOUND || r.status == StatusCode::UNAUTHORIZED
            });
            if gone {
                if let Ok(mut s) = stop.lock() {
                    s.get_or_insert_with(|| format!("{e:#}"));
                }
                return;
            }
        }
    }
}
