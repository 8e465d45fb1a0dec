//! The agents hub: runs of agent jobs wait here as offers until an agent
//! of their tenant polls for one of its jobs; a claimed run then takes the
//! agent's batches, in order and each once, into the run's read
//! (`sync/remote.rs`). In memory: a node's runs are served by the agents
//! polling that node, so on several nodes an agent job's scheduled runs
//! start on the node its agent polls (`agent_present`).

use std::collections::HashMap;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::agent::protocol::{Call, ReadEnd, WorkItem};
use crate::config::ServerConfig;
use crate::daemon::lock;
use crate::sync::{RemoteMsg, RemoteRead, RemoteReads};

/// Who is calling: an enrolled agent of one tenant.
#[derive(Debug, Clone)]
pub struct AgentId {
    pub id: String,
    pub name: String,
    pub tenant: String,
    /// The only jobs it may serve; `None`: every agent job of its tenant.
    pub allowed: Option<Vec<String>>,
}

impl AgentId {
    /// Whether this agent may serve `tenant`'s job `job`.
    pub fn may_serve(&self, tenant: &str, job: &str) -> bool {
        self.tenant == tenant
            && self
                .allowed
                .as_ref()
                .is_none_or(|a| a.iter().any(|j| j == job))
    }
}

#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    offered: Notify,
}

#[derive(Default)]
struct State {
    offers: Vec<Offer>,
    runs: HashMap<String, Arc<Slot>>,
    /// When an agent last polled this node for each (tenant, job).
    polled: HashMap<(String, String), std::time::Instant>,
}

/// An agent that polled this node within this long is still around: a
/// long poll lasts at most `MAX_WAIT_SECONDS` and the agent polls again
/// at once.
const PRESENT_FOR: Duration = Duration::from_secs(crate::agent::protocol::MAX_WAIT_SECONDS + 15);

struct Offer {
    item: WorkItem,
    messages: Sender<RemoteMsg>,
    claimed: Sender<String>,
}

/// A claimed run.
struct Slot {
    tenant: String,
    job: String,
    agent: String,
    messages: Mutex<Sender<RemoteMsg>>,
    /// The next batch number expected; one batch is fed at a time.
    next: tokio::sync::Mutex<u64>,
}

/// Why a batch or finish was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No such run for this agent (ended, given up, another tenant's).
    NotFound,
    /// Batches must come in order: `expected` is the next one.
    Gap { expected: u64 },
    /// The run refused the batch (a limit, a mapper failure); it fails.
    Failed(String),
}

/// How a batch was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    Fed,
    /// Sent before (an answer that got lost): not fed again.
    Duplicate,
}

impl Hub {
    /// The jobs (of `agent`'s tenant, among `jobs`) waiting for an agent.
    fn try_claim(&self, agent: &AgentId, jobs: &[String]) -> Option<WorkItem> {
        let mut state = lock(&self.inner.state);
        let i = state.offers.iter().position(|o| {
            jobs.contains(&o.item.job) && agent.may_serve(&o.item.tenant, &o.item.job)
        })?;
        let offer = state.offers.remove(i);
        if offer.claimed.send(agent.name.clone()).is_err() {
            return None; // the run gave up meanwhile
        }
        state.runs.insert(
            offer.item.run_id.clone(),
            Arc::new(Slot {
                tenant: offer.item.tenant.clone(),
                job: offer.item.job.clone(),
                agent: agent.id.clone(),
                messages: Mutex::new(offer.messages),
                next: tokio::sync::Mutex::new(0),
            }),
        );
        Some(offer.item)
    }

    /// Whether an agent that may serve `tenant`'s job `job` polls this
    /// node: nodes sharing a store leave an agent job's slot to the node its
    /// agent polls (see `daemon/scheduler.rs`).
    pub fn agent_present(&self, tenant: &str, job: &str) -> bool {
        let state = lock(&self.inner.state);
        state
            .polled
            .get(&(tenant.to_string(), job.to_string()))
            .is_some_and(|at| at.elapsed() < PRESENT_FOR)
    }

    fn note_poll(&self, agent: &AgentId, jobs: &[String]) {
        let mut state = lock(&self.inner.state);
        let now = std::time::Instant::now();
        state.polled.retain(|_, at| at.elapsed() < PRESENT_FOR);
        for job in jobs.iter().filter(|j| agent.may_serve(&agent.tenant, j)) {
            state
                .polled
                .insert((agent.tenant.clone(), job.clone()), now);
        }
    }

    /// Wait up to `wait` for a run of one of `jobs`; claim it for `agent`.
    pub async fn poll(&self, agent: &AgentId, jobs: &[String], wait: Duration) -> Option<WorkItem> {
        self.note_poll(agent, jobs);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.offered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(item) = self.try_claim(agent, jobs) {
                return Some(item);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// The run `run` if `agent` holds it.
    fn slot(&self, agent: &AgentId, run: &str) -> Result<Arc<Slot>, Refused> {
        let state = lock(&self.inner.state);
        match state.runs.get(run) {
            Some(s) if s.tenant == agent.tenant && s.agent == agent.id => Ok(s.clone()),
            _ => Err(Refused::NotFound),
        }
    }

    /// Batch `seq` of `run`: fed once, in order, and answered with what
    /// the run made of it.
    pub async fn batch(
        &self,
        agent: &AgentId,
        run: &str,
        seq: u64,
        calls: Vec<Call>,
    ) -> Result<Taken, Refused> {
        let slot = self.slot(agent, run)?;
        let mut next = slot.next.lock().await;
        if seq < *next {
            return Ok(Taken::Duplicate);
        }
        if seq > *next {
            return Err(Refused::Gap { expected: *next });
        }
        let (ack, answer) = tokio::sync::oneshot::channel();
        let sent = lock(&slot.messages).send(RemoteMsg::Batch { calls, ack });
        if sent.is_err() {
            return Err(Refused::NotFound);
        }
        match answer.await {
            Ok(Ok(())) => {
                tracing::debug!(run = %run, seq, "agent batch fed");
                *next += 1;
                Ok(Taken::Fed)
            }
            Ok(Err(e)) => Err(Refused::Failed(e)),
            Err(_) => Err(Refused::NotFound),
        }
    }

    /// The agent is alive and reading.
    pub fn beat(&self, agent: &AgentId, run: &str) -> Result<(), Refused> {
        let slot = self.slot(agent, run)?;
        let sent = lock(&slot.messages).send(RemoteMsg::Beat);
        sent.map_err(|_| Refused::NotFound)
    }

    /// The read ended after `batches` batches.
    pub async fn finish(
        &self,
        agent: &AgentId,
        run: &str,
        batches: u64,
        end: ReadEnd,
    ) -> Result<(), Refused> {
        let slot = self.slot(agent, run)?;
        let next = slot.next.lock().await;
        if batches != *next {
            return Err(Refused::Gap { expected: *next });
        }
        let sent = lock(&slot.messages).send(RemoteMsg::Finish(end));
        sent.map_err(|_| Refused::NotFound)
    }

    /// The runs agents hold now: (tenant, job, agent id).
    pub fn claimed(&self) -> Vec<(String, String, String)> {
        lock(&self.inner.state)
            .runs
            .values()
            .map(|s| (s.tenant.clone(), s.job.clone(), s.agent.clone()))
            .collect()
    }

    fn withdraw(&self, run: &str) {
        let mut state = lock(&self.inner.state);
        state.offers.retain(|o| o.item.run_id != run);
        state.runs.remove(run);
    }
}

/// Withdraws a run from the hub when its read ends, however it ends.
struct Withdraw {
    hub: Hub,
    run: String,
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        self.hub.withdraw(&self.run);
    }
}

impl RemoteReads for Hub {
    fn offer(&self, mut item: WorkItem, server: &ServerConfig) -> anyhow::Result<RemoteRead> {
        item.max_batch_bytes = usize::try_from(server.agent_max_batch_kb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024);
        item.heartbeat_seconds = (server.agent_timeout_seconds / 3).max(1);
        let (messages, messages_rx) = channel();
        let (claimed, claimed_rx) = channel();
        let run = item.run_id.clone();
        lock(&self.inner.state).offers.push(Offer {
            item,
            messages,
            claimed,
        });
        self.inner.offered.notify_waiters();
        Ok(RemoteRead {
            messages: messages_rx,
            claimed: claimed_rx,
            claim_timeout: Duration::from_secs(server.agent_claim_seconds),
            idle_timeout: Duration::from_secs(server.agent_timeout_seconds),
            _guard: Box::new(Withdraw {
                hub: self.clone(),
                run,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::PluginRef;

    fn item(tenant: &str, run: &str) -> WorkItem {
        WorkItem {
            run_id: run.into(),
            tenant: tenant.into(),
            job: "people".into(),
            cursor: None,
            plugin: PluginRef {
                name: "ldap".into(),
                version: "1".into(),
                sha256: "0".repeat(64),
            },
            source: "{}".into(),
            state: vec![],
            seats: vec![],
            limits: Default::default(),
            max_batch_bytes: 0,
            heartbeat_seconds: 0,
        }
    }

    fn agent(tenant: &str, id: &str) -> AgentId {
        AgentId {
            id: id.into(),
            name: id.into(),
            tenant: tenant.into(),
            allowed: None,
        }
    }

    fn warn(n: usize) -> Vec<Call> {
        vec![Call::Warn {
            message: n.to_string(),
        }]
    }

    #[tokio::test]
    async fn runs_go_to_their_tenants_agents_and_batches_are_fed_once_in_order() {
        let hub = Hub::default();
        let read = hub
            .offer(item("globex", "r1"), &ServerConfig::default())
            .unwrap();
        let jobs = vec!["people".to_string()];
        let wait = Duration::from_millis(50);
        let (acme, globex) = (agent("acme", "a"), agent("globex", "g"));
        assert!(hub.poll(&acme, &jobs, wait).await.is_none());
        assert!(hub.poll(&globex, &[], wait).await.is_none());
        let narrow = AgentId {
            allowed: Some(vec!["other".into()]),
            ..agent("globex", "n")
        };
        assert!(hub.poll(&narrow, &jobs, wait).await.is_none());
        let work = hub.poll(&globex, &jobs, wait).await.unwrap();
        assert_eq!(work.run_id, "r1");
        assert_eq!(work.max_batch_bytes, 16 << 20);
        assert_eq!(read.claimed.recv().unwrap(), "g");

        // The run's side: count what is fed, refuse the third batch.
        let feeder = std::thread::spawn(move || {
            let mut fed = Vec::new();
            while let Ok(msg) = read.messages.recv() {
                match msg {
                    RemoteMsg::Batch { calls, ack } => {
                        let Call::Warn { message } = &calls[0] else {
                            panic!()
                        };
                        fed.push(message.clone());
                        let answer = if message == "2" {
                            Err("no".into())
                        } else {
                            Ok(())
                        };
                        let _ = ack.send(answer);
                    }
                    RemoteMsg::Finish(_) => return fed,
                    RemoteMsg::Beat => {}
                }
            }
            fed
        });
        assert_eq!(
            hub.batch(&acme, "r1", 0, warn(0)).await,
            Err(Refused::NotFound)
        );
        assert_eq!(hub.batch(&globex, "r1", 0, warn(0)).await, Ok(Taken::Fed));
        assert_eq!(
            hub.batch(&globex, "r1", 0, warn(0)).await,
            Ok(Taken::Duplicate)
        );
        assert_eq!(
            hub.batch(&globex, "r1", 2, warn(2)).await,
            Err(Refused::Gap { expected: 1 })
        );
        assert_eq!(hub.batch(&globex, "r1", 1, warn(1)).await, Ok(Taken::Fed));
        assert_eq!(
            hub.batch(&globex, "r1", 2, warn(2)).await,
            Err(Refused::Failed("no".into()))
        );
        let end = ReadEnd::Failed {
            message: "x".into(),
        };
        assert_eq!(
            hub.finish(&globex, "r1", 5, end.clone()).await,
            Err(Refused::Gap { expected: 2 })
        );
        assert_eq!(
            hub.finish(&acme, "r1", 2, end.clone()).await,
            Err(Refused::NotFound)
        );
        assert_eq!(hub.finish(&globex, "r1", 2, end).await, Ok(()));
        assert_eq!(feeder.join().unwrap(), vec!["0", "1", "2"]);
    }

    #[tokio::test]
    async fn a_withdrawn_run_is_gone_for_its_agent() {
        let hub = Hub::default();
        let read = hub
            .offer(item("acme", "r2"), &ServerConfig::default())
            .unwrap();
        let a = agent("acme", "a");
        let jobs = vec!["people".to_string()];
        assert!(hub
            .poll(&a, &jobs, Duration::from_millis(50))
            .await
            .is_some());
        assert_eq!(hub.claimed().len(), 1);
        drop(read);
        assert!(hub.claimed().is_empty());
        assert_eq!(hub.beat(&a, "r2"), Err(Refused::NotFound));
        assert_eq!(
            hub.batch(&a, "r2", 0, warn(0)).await,
            Err(Refused::NotFound)
        );
    }
}
