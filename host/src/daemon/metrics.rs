//! Prometheus metrics (`GET /metrics`, text format): runs by outcome, run
//! duration, records read and changed, plugin call latency, plugin loads,
//! and the node's part in a cluster: its name, whether it holds the store's
//! database, and the jobs it took over from nodes whose lease lapsed.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::config::JobKey;
use crate::store::RunRecord;
use crate::sync::{CallObserver, RunReport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    tenant: String,
    job: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    tenant: String,
    job: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    tenant: String,
    job: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    call: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentLabels {
    tenant: String,
    agent: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Mutex<Registry>,
    runs: Family<RunLabels, Counter>,
    run_seconds: HistogramFamily<JobLabels>,
    records_read: Family<RecordLabels, Counter>,
    records_changed: Family<JobLabels, Counter>,
    plugin_calls: HistogramFamily<CallLabels>,
    pub plugin_load_failures: Counter,
    pub plugin_reloads: Counter,
    pub plugins_served: Gauge,
    pub runs_in_progress: Gauge,
    node: Family<NodeLabels, Gauge>,
    /// 1 while the store's database answers, 0 while it does not.
    pub store_up: Gauge,
    lease_takeovers: Family<JobLabels, Counter>,
    agent_last_seen: Family<AgentLabels, Gauge>,
}

fn run_buckets() -> Histogram {
    // 10 ms .. ~45 min
    Histogram::new(exponential_buckets(0.01, 2.0, 19))
}

fn call_buckets() -> Histogram {
    // 50 µs .. ~50 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 21))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            runs: Family::default(),
            run_seconds: Family::new_with_constructor(run_buckets),
            records_read: Family::default(),
            records_changed: Family::default(),
            plugin_calls: Family::new_with_constructor(call_buckets),
            plugin_load_failures: Counter::default(),
            plugin_reloads: Counter::default(),
            plugins_served: Gauge::default(),
            runs_in_progress: Gauge::default(),
            node: Family::default(),
            store_up: Gauge::default(),
            lease_takeovers: Family::default(),
            agent_last_seen: Family::default(),
        };
        m.store_up.set(1);
        {
            let mut r = super::lock(&m.registry);
            r.register(
                "usersync_runs",
                "Finished runs by tenant, job and outcome",
                m.runs.clone(),
            );
            r.register(
                "usersync_run_duration_seconds",
                "Run duration by tenant and job",
                m.run_seconds.clone(),
            );
            r.register(
                "usersync_records_read",
                "Records the connector read, by tenant, job and kind (users, groups)",
                m.records_read.clone(),
            );
            r.register(
                "usersync_records_changed",
                "Changes applied (or planned, for dry runs) by tenant and job",
                m.records_changed.clone(),
            );
            r.register(
                "usersync_plugin_call_duration_seconds",
                "Plugin call latency by plugin and call",
                m.plugin_calls.clone(),
            );
            r.register(
                "usersync_plugin_load_failures",
                "Plugin files refused (at start or on hot reload)",
                m.plugin_load_failures.clone(),
            );
            r.register(
                "usersync_plugin_reloads",
                "Plugins loaded, replaced or removed by hot reload",
                m.plugin_reloads.clone(),
            );
            r.register(
                "usersync_plugins_served",
                "Plugins currently served",
                m.plugins_served.clone(),
            );
            r.register(
                "usersync_runs_in_progress",
                "Runs in progress",
                m.runs_in_progress.clone(),
            );
            r.register(
                "usersync_node_info",
                "This node's name (server.node) and version",
                m.node.clone(),
            );
            r.register(
                "usersync_store_up",
                "Whether this node reaches the store's database (1) or not (0)",
                m.store_up.clone(),
            );
            r.register(
                "usersync_lease_takeovers",
                "Jobs this node took over because another node's lease on them lapsed mid-run",
                m.lease_takeovers.clone(),
            );
            r.register(
                "usersync_agent_last_seen_seconds",
                "When each agent last polled this node (Unix time), by tenant and agent name",
                m.agent_last_seen.clone(),
            );
        }
        m
    }

    pub fn node_info(&self, node: &str, version: &str) {
        self.node
            .get_or_create(&NodeLabels {
                node: node.into(),
                version: version.into(),
            })
            .set(1);
    }

    pub fn agent_seen(&self, tenant: &str, agent: &str) {
        self.agent_last_seen
            .get_or_create(&AgentLabels {
                tenant: tenant.into(),
                agent: agent.into(),
            })
            .set(chrono::Utc::now().timestamp());
    }

    pub fn lease_takeover(&self, job: &JobKey) {
        self.lease_takeovers
            .get_or_create(&JobLabels {
                tenant: job.tenant.clone(),
                job: job.job.clone(),
            })
            .inc();
    }

    /// Count a finished run (a run that never started, e.g. because a
    /// plugin is missing, counts as `failed` with no duration).
    pub fn run_finished(&self, job: &JobKey, outcome: &str, elapsed: Option<Duration>) {
        self.runs
            .get_or_create(&RunLabels {
                tenant: job.tenant.clone(),
                job: job.job.clone(),
                outcome: outcome.into(),
            })
            .inc();
        if let Some(d) = elapsed {
            self.run_seconds
                .get_or_create(&JobLabels {
                    tenant: job.tenant.clone(),
                    job: job.job.clone(),
                })
                .observe(d.as_secs_f64());
        }
    }

    pub fn records(&self, run: &RunRecord, report: &RunReport) {
        for (kind, n) in [("users", report.read.users), ("groups", report.read.groups)] {
            self.records_read
                .get_or_create(&RecordLabels {
                    tenant: run.tenant_id.clone(),
                    job: run.job_id.clone(),
                    kind: kind.into(),
                })
                .inc_by(n);
        }
        let c = report.plan.counts();
        let changed = c.created
            + c.updated
            + c.renamed
            + c.adopted
            + c.deactivated
            + c.reactivated
            + c.groups_created
            + c.groups_updated
            + c.groups_deactivated
            + c.memberships_added
            + c.memberships_removed
            + c.roles_granted
            + c.roles_revoked
            + c.licenses_granted
            + c.licenses_freed;
        self.records_changed
            .get_or_create(&JobLabels {
                tenant: run.tenant_id.clone(),
                job: run.job_id.clone(),
            })
            .inc_by(changed);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = super::lock(&self.registry);
        prometheus_client::encoding::text::encode(&mut out, &r).expect("writing to a String");
        out
    }

    /// The text format with only `tenant`'s samples: the per-tenant
    /// families (runs, durations, records), none of the daemon-wide ones.
    /// Every tenant-labelled family has `tenant` as its first label.
    pub fn encode_for_tenant(&self, tenant: &str) -> String {
        let escaped = tenant
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let own = format!("{{tenant=\"{escaped}\"");
        let mut out = String::new();
        for line in self.encode().lines() {
            let keep = line.starts_with('#')
                || line.find('{').is_some_and(|i| {
                    line[i..].starts_with(&own)
                        && matches!(line[i + own.len()..].chars().next(), Some(',' | '}'))
                });
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl CallObserver for Metrics {
    fn plugin_call(&self, plugin: &str, call: &str, elapsed: Duration) {
        self.plugin_calls
            .get_or_create(&CallLabels {
                plugin: plugin.into(),
                call: call.into(),
            })
            .observe(elapsed.as_secs_f64());
    }
}
