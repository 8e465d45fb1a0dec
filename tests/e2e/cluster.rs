//! A three-node cluster on one store: 3 tenants × 10 CSV jobs on short
//! intervals, served by three `usersync serve` processes. One node is
//! killed with SIGKILL while it runs a job and started again later. What
//! must hold: no job ever ran twice at once, every job kept running (each
//! store follows two later versions of its source), the killed node's runs
//! were abandoned with nothing applied, and every store equals its source.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use usersync_host::store::{AuditFilter, RunRecord, Store};

use crate::daemon_env::{Served, PATIENCE};
use crate::env::TestEnv;
use crate::leases::node_env;

const TENANTS: [&str; 3] = ["t1", "t2", "t3"];
const JOBS_PER_TENANT: usize = 10;
/// How long the whole test may wait for the cluster to converge, per step.
const CONVERGE: Duration = Duration::from_secs(90);

fn jobs() -> Vec<(String, String)> {
    TENANTS
        .iter()
        .flat_map(|t| (0..JOBS_PER_TENANT).map(move |j| (t.to_string(), format!("j{j}"))))
        .collect()
}

/// Version `v` of a job's source: five people, the second renamed from
/// version 2 on, the third gone from version 3 on, one new person per
/// version. Usernames carry the job's id (they are unique per tenant).
fn people(job: &str, v: usize) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = (1..=5)
        .map(|i| (format!("{i}"), format!("{job}-u{i}")))
        .collect();
    if v >= 2 {
        rows[1].1 = format!("{job}-renamed");
    }
    if v >= 3 {
        rows.remove(2);
    }
    rows.extend((1..=v).map(|n| (format!("{}", 100 + n), format!("{job}-new{n}"))));
    rows
}

fn write_sources(env: &TestEnv, v: usize) {
    for (tenant, job) in jobs() {
        let mut text = String::from("id,uid,active,groups\n");
        for (id, uid) in people(&job, v) {
            text.push_str(&format!("{id},{uid},true,Staff\n"));
        }
        let data = env.dir.path().join("data");
        let tmp = data.join(format!(".{tenant}-{job}.csv.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, data.join(format!("{tenant}-{job}.csv"))).unwrap();
    }
}

/// The base config: three tenants with ten CSV jobs each, every 2 s, all
/// reading the base folder's data (the nodes' own folders hold no data).
fn cluster_env() -> TestEnv {
    let env = TestEnv::csv();
    let data = env.dir.path().join("data");
    env.edit(|doc| {
        let template = doc["jobs"].as_array().unwrap()[0]
            .as_table()
            .unwrap()
            .clone();
        let mut tenants = Vec::new();
        let mut jobs_out = Vec::new();
        for t in TENANTS {
            tenants.push(toml::Value::Table(toml::toml! {
                id = t
                licenses = { standard = 1000 }
            }));
        }
        for (tenant, job) in jobs() {
            let mut j = template.clone();
            j.insert("id".into(), job.clone().into());
            j.insert("tenant".into(), tenant.clone().into());
            j.insert("interval_seconds".into(), 2.into());
            let mut grants = toml::Table::new();
            grants.insert("input_dir".into(), data.display().to_string().into());
            j.insert("grants".into(), grants.into());
            let mut source = j["source"].as_table().unwrap().clone();
            source.insert("path".into(), format!("/input/{tenant}-{job}.csv").into());
            j.insert("source".into(), source.into());
            jobs_out.push(toml::Value::Table(j));
        }
        doc.insert("tenants".into(), tenants.into());
        doc.insert("jobs".into(), jobs_out.into());
        // Ten jobs of a tenant may run at once on three nodes.
        doc["limits"]["cpu_seconds"] = toml::Value::Float(10.0);
    });
    write_sources(&env, 1);
    env
}

async fn all_runs(s: &Store) -> Vec<RunRecord> {
    s.runs(None, None, 100_000).await.unwrap()
}

/// Wait (bounded) until `done` holds for the store.
async fn wait_until<F, Fut>(what: &str, nodes: &[&Served], done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        if start.elapsed() > CONVERGE {
            for n in nodes {
                eprintln!("--- node log ---\n{}", n.log());
            }
            panic!("the cluster did not get there in {CONVERGE:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Does every job's store hold exactly version `v`'s active users?
async fn stores_equal_sources(s: &Store, v: usize) -> bool {
    let users = s.users(None).await.unwrap();
    let mut by_job: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for u in users.iter().filter(|u| u.active) {
        let job = u.job_id.clone().unwrap_or_default();
        by_job
            .entry((u.tenant_id.clone(), job))
            .or_default()
            .insert(u.username.clone());
    }
    jobs().into_iter().all(|(tenant, job)| {
        let want: BTreeSet<String> = people(&job, v).into_iter().map(|(_, u)| u).collect();
        by_job.get(&(tenant, job)) == Some(&want)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_three_node_cluster_runs_each_job_once_at_a_time_and_takes_over_a_killed_nodes_run() {
    let base = cluster_env();
    let s = Store::open(&base.config().store_url()).await.unwrap();
    let n1 = Served::start(node_env(&base, "node-1"));
    let n2 = Served::start(node_env(&base, "node-2"));
    let n3 = Served::start(node_env(&base, "node-3"));

    wait_until("every job synced version 1", &[&n1, &n2, &n3], || {
        stores_equal_sources(&s, 1)
    })
    .await;

    // Kill node-1 while it runs a job. Its runs are short: one may end
    // between the look and the kill, so start it again and retry until the
    // kill leaves a run of node-1 running (the records of a killed process
    // change no more).
    let start = Instant::now();
    let mut n1 = n1;
    loop {
        let running = |runs: Vec<RunRecord>| {
            runs.into_iter()
                .any(|r| r.node.as_deref() == Some("node-1") && r.outcome == "running")
        };
        if running(all_runs(&s).await) {
            n1.signal("KILL");
            let _ = n1.stop();
            if running(all_runs(&s).await) {
                break;
            }
            n1 = Served::start(node_env(&base, "node-1"));
        }
        assert!(start.elapsed() < PATIENCE, "node-1 never ran a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();

    write_sources(&base, 2);
    wait_until(
        "nodes 2 and 3 synced version 2 for every job",
        &[&n2, &n3],
        || stores_equal_sources(&s, 2),
    )
    .await;
    eprintln!(
        "every job converged {:.1} s after node-1 was killed",
        killed_at.elapsed().as_secs_f64()
    );

    // node-1 comes back (a new process, same name) and takes its share again.
    let n1 = Served::start(node_env(&base, "node-1"));
    // Runs that start after the newest one so far are the restarted node's.
    let back = all_runs(&s)
        .await
        .into_iter()
        .map(|r| r.started_at)
        .max()
        .unwrap_or_default();
    write_sources(&base, 3);
    wait_until("every job synced version 3", &[&n1, &n2, &n3], || {
        stores_equal_sources(&s, 3)
    })
    .await;
    wait_until("node-1 ran jobs again", &[&n1, &n2, &n3], || async {
        all_runs(&s).await.iter().any(|r| {
            r.node.as_deref() == Some("node-1") && r.started_at > back && r.outcome == "succeeded"
        })
    })
    .await;
    for mut n in [n1, n2, n3] {
        assert!(n.stop().success(), "a node did not stop cleanly");
    }

    let runs = all_runs(&s).await;
    // No job ever ran twice at once (runs the kill interrupted ended
    // when their process died, which no record can tell; they are checked
    // below instead).
    let mut by_job: HashMap<(String, String), Vec<&RunRecord>> = HashMap::new();
    for r in runs.iter().filter(|r| r.outcome != "interrupted") {
        by_job
            .entry((r.tenant_id.clone(), r.job_id.clone()))
            .or_default()
            .push(r);
    }
    assert_eq!(by_job.len(), jobs().len(), "some job never ran");
    for (job, mut runs) in by_job {
        runs.sort_by(|a, b| a.started_at.cmp(&b.started_at));
        for pair in runs.windows(2) {
            let ended = pair[0].finished_at.as_deref().unwrap_or("9999");
            assert!(
                pair[1].started_at.as_str() >= ended,
                "{job:?} ran twice at once: {} on {:?} until {ended}, {} on {:?} from {}",
                pair[0].id,
                pair[0].node,
                pair[1].id,
                pair[1].node,
                pair[1].started_at
            );
        }
    }
    // The killed node's runs were abandoned, named as such, and applied
    // nothing: no audit event carries their ids.
    let abandoned: Vec<&RunRecord> = runs.iter().filter(|r| r.outcome == "interrupted").collect();
    assert!(!abandoned.is_empty(), "no run of node-1 was abandoned");
    let events = s
        .audit(&AuditFilter {
            limit: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap();
    for r in &abandoned {
        assert_eq!(r.node.as_deref(), Some("node-1"), "{r:?}");
        let message = r.message.as_deref().unwrap_or_default();
        assert!(
            message.contains("abandoned") || message.contains("interrupted"),
            "{message}"
        );
        assert!(
            events
                .iter()
                .all(|e| e.run_id.as_deref() != Some(r.id.as_str())),
            "abandoned run {} wrote audit events",
            r.id
        );
    }
}
