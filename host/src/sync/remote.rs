//! A read that happens in an agent (a job with `runs_on = "agent"`): the
//! daemon's hub (`daemon/agents/`) offers the run as a work item, and the
//! connector's `target` calls arrive here in batches, in order, and are fed
//! into the same collector, mapper chain, planner and apply as a local read.
//! Nothing is applied unless the agent finishes the read: a run whose
//! agent goes silent fails whole, and the next run converges.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::agent::protocol::{decode_bytes, Call, ReadEnd, WorkItem};
use crate::model::{ObjectKind, ReadSummary, RecordError};
use crate::runtime::ReadSink;

/// What the hub hands a run's read: batches, beats and the end.
pub enum RemoteMsg {
    /// One batch; the answer goes back to the agent.
    Batch {
        calls: Vec<Call>,
        ack: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    /// The agent is alive (a slow read, nothing to send yet).
    Beat,
    /// The read ended after every batch was fed.
    Finish(ReadEnd),
}

/// Where a daemon offers agent runs (the agents hub).
pub trait RemoteReads: Send + Sync {
    /// Offer `item` to the tenant's agents. The read's messages come
    /// through the answer; dropping it withdraws the offer (or the run).
    fn offer(&self, item: WorkItem, server: &crate::config::ServerConfig) -> Result<RemoteRead>;
}

/// One offered run, from the read's side.
pub struct RemoteRead {
    pub messages: Receiver<RemoteMsg>,
    /// Tells who claimed the run, once an agent did.
    pub claimed: Receiver<String>,
    /// How long an agent may take to claim it, and to send anything.
    pub claim_timeout: Duration,
    pub idle_timeout: Duration,
    /// Withdraws the offer or run from the hub when dropped.
    pub _guard: Box<dyn Send>,
}

const TICK: Duration = Duration::from_millis(250);

/// Feed what the agent sends into `sink` until it finishes the read.
pub fn replay(
    remote: RemoteRead,
    mut sink: Box<dyn ReadSink>,
    cancel: Option<Arc<AtomicBool>>,
    job: &str,
) -> Result<ReadSummary> {
    let cancelled = || cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
    let started = Instant::now();
    let agent = loop {
        match remote.claimed.recv_timeout(TICK) {
            Ok(agent) => break agent,
            Err(RecvTimeoutError::Disconnected) => {
                bail!("the run was withdrawn before an agent took it")
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if cancelled() {
            bail!("the host is shutting down; this run is cancelled");
        }
        if started.elapsed() >= remote.claim_timeout {
            bail!(
                "no agent took job {job} within {} s (server.agent_claim_seconds): is an agent of this tenant running with settings for the job? `usersync agents list` shows when each was last seen",
                remote.claim_timeout.as_secs()
            );
        }
    };
    tracing::info!(agent = %agent, "an agent took the run");
    let mut last = Instant::now();
    loop {
        let msg = match remote.messages.recv_timeout(TICK) {
            Ok(m) => m,
            Err(RecvTimeoutError::Disconnected) => bail!("the run was withdrawn"),
            Err(RecvTimeoutError::Timeout) => {
                if cancelled() {
                    bail!("the host is shutting down; this run is cancelled");
                }
                if last.elapsed() >= remote.idle_timeout {
                    bail!(
                        "abandoned: agent {agent} stopped responding (nothing for {} s, server.agent_timeout_seconds); nothing was applied; the next run retries",
                        remote.idle_timeout.as_secs()
                    );
                }
                continue;
            }
        };
        last = Instant::now();
        match msg {
            RemoteMsg::Beat => {}
            RemoteMsg::Batch { calls, ack } => {
                let fed = feed(&mut *sink, calls);
                let _ = ack.send(fed.clone());
                if let Err(e) = fed {
                    return Err(anyhow!("{e}"));
                }
            }
            RemoteMsg::Finish(ReadEnd::Ok {
                users,
                groups,
                complete,
            }) => {
                return Ok(ReadSummary {
                    users,
                    groups,
                    complete,
                })
            }
            RemoteMsg::Finish(ReadEnd::Failed { message }) => {
                bail!("the connector's read failed in agent {agent}: {message}")
            }
        }
    }
}

/// Apply one batch's calls to the sink, in order; the first refusal stops it.
fn feed(sink: &mut dyn ReadSink, calls: Vec<Call>) -> Result<(), String> {
    for call in calls {
        let done = match call {
            Call::Users { objects } => objects
                .into_iter()
                .map(|o| o.into_wire(ObjectKind::User))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|b| sink.put_users(b)),
            Call::Groups { objects } => objects
                .into_iter()
                .map(|o| o.into_wire(ObjectKind::Group))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|b| sink.put_groups(b)),
            Call::Members { group, members } => sink.put_members(group, members),
            Call::Remove { kind, ids } => sink.remove(kind, ids),
            Call::Reject {
                record,
                field,
                message,
            } => {
                sink.reject(RecordError {
                    record,
                    field,
                    message,
                });
                Ok(())
            }
            Call::Checkpoint { cursor } => sink.checkpoint(cursor),
            Call::State { key, value } => value
                .as_deref()
                .map(decode_bytes)
                .transpose()
                .map(|v| sink.state_set(key, v)),
            Call::RunAgainIn { seconds } => {
                sink.run_again_in(seconds);
                Ok(())
            }
            Call::Warn { message } => {
                sink.warn(message);
                Ok(())
            }
        };
        done?;
        if let Some(fatal) = sink.take_fatal() {
            return Err(fatal);
        }
    }
    Ok(())
}

/// The work item of a run of `job`, as far as the run knows it (the hub
/// adds its own bounds).
pub(super) fn work_item(
    job: &crate::config::JobConfig,
    connector: &crate::runtime::LoadedPlugin,
    mode: &crate::model::ReadMode,
    run_id: &str,
    state: &std::collections::HashMap<String, Vec<u8>>,
    seats: &[(String, u32, u32)],
    limits: crate::config::Limits,
) -> WorkItem {
    WorkItem {
        run_id: run_id.to_string(),
        tenant: job.tenant.clone(),
        job: job.id.clone(),
        cursor: match mode {
            crate::model::ReadMode::Full => None,
            crate::model::ReadMode::Incremental(c) => Some(c.clone()),
        },
        plugin: crate::agent::protocol::PluginRef {
            name: connector.manifest.name.clone(),
            version: connector.manifest.version.clone(),
            sha256: connector.hash.clone(),
        },
        source: job.source_json(),
        state: state
            .iter()
            .map(|(k, v)| (k.clone(), crate::agent::protocol::encode_bytes(v)))
            .collect(),
        seats: seats.to_vec(),
        limits,
        max_batch_bytes: 0,
        heartbeat_seconds: 0,
    }
}
