//! Cluster throughput (issue 12's benchmark): `jobs` small CSV jobs across
//! `tenants` tenants, all due at once, run by one `usersync serve` node and
//! then by `nodes` nodes sharing one PostgreSQL, as runs per minute side by
//! side; then the start delay of a lone tenant's one job while another
//! tenant floods the queue. Every figure is read from the run records the
//! store holds; every job must run exactly once and succeed. Run by
//! `bash bench/cluster.sh` (never in CI but as `--smoke`).

mod scenario;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ldap_harness::Postgres;
use scenario::{Run, Scenario};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    about = "Runs per minute of 1 vs N usersync nodes on one PostgreSQL, and a lone tenant's start delay under a flood"
)]
struct Args {
    /// Nodes of the cluster (compared with one node).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Jobs in all, spread evenly across the tenants.
    #[arg(long, default_value_t = 300)]
    jobs: usize,
    #[arg(long, default_value_t = 10)]
    tenants: usize,
    /// Users per job (a CSV file each).
    #[arg(long, default_value_t = 1000)]
    users: usize,
    /// `server.max_concurrent_runs` of each cluster node (the single node
    /// gets this times `--nodes`).
    #[arg(long, default_value_t = 4)]
    per_node: u32,
    /// Jobs of the flooding tenant beside the lone tenant's one job.
    #[arg(long, default_value_t = 200)]
    flood: usize,
    /// 12 jobs of 100 users across 3 tenants, a flood of 12: a minute or less.
    #[arg(long)]
    smoke: bool,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let mut a = Args::parse();
    if a.smoke {
        (a.jobs, a.tenants, a.users, a.flood) = (12, 3, 100, 12);
    }
    let usersync = std::fs::canonicalize("target/release/usersync")
        .context("build the host first: cargo build --release -p usersync-host --bin usersync")?;
    std::fs::create_dir_all("target/tmp")?;
    let work = tempfile::tempdir_in("target/tmp")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pg = Postgres::start()?;
    let timeout = Duration::from_secs(1800);
    let spread: Vec<(String, usize)> = (0..a.tenants)
        .map(|t| {
            (
                format!("t{t}"),
                a.jobs / a.tenants + usize::from(t < a.jobs % a.tenants),
            )
        })
        .collect();
    // One node gets as many places as the whole cluster, so both run the
    // same number of jobs at once and the ratio shows what coordination
    // costs (on one machine more nodes add no CPU).
    let scenario = |name, nodes: usize, tenants| Scenario {
        name,
        nodes,
        per_node: if nodes == 1 {
            a.per_node * a.nodes as u32
        } else {
            a.per_node
        },
        tenants,
        users: a.users,
        usersync: &usersync,
        timeout,
    };
    println!(
        "usersync cluster benchmark: {} jobs x {} users across {} tenants; 1 node with max_concurrent_runs {} vs {} nodes with {} each; PostgreSQL on loopback; {} cores, load {}",
        a.jobs,
        a.users,
        a.tenants,
        a.per_node * a.nodes as u32,
        a.nodes,
        a.per_node,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load()
    );
    let one = scenario::run(
        &scenario("one-node", 1, spread.clone()),
        &pg,
        work.path(),
        &rt,
    )?;
    let one = throughput(&one);
    report("1 node", &one);
    let many = scenario::run(&scenario("cluster", a.nodes, spread), &pg, work.path(), &rt)?;
    let many = throughput(&many);
    report(&format!("{} nodes", a.nodes), &many);
    let ratio = many["runs_per_minute"].as_f64().unwrap_or(0.0)
        / one["runs_per_minute"].as_f64().unwrap_or(1.0);
    println!("  {} nodes / 1 node: {ratio:.2}x runs per minute", a.nodes);

    let flood = vec![("flood".to_string(), a.flood), ("lone".to_string(), 1)];
    let runs = scenario::run(&scenario("flood", a.nodes, flood), &pg, work.path(), &rt)?;
    let delay = lone_delay(&runs);
    println!(
        "  lone tenant beside {} due jobs of another, {} nodes: its job started {:.2} s after the first run \
         (flood's median start {:.2} s, last {:.2} s); it was run {} of {}",
        a.flood,
        a.nodes,
        delay["lone_start_s"].as_f64().unwrap_or_default(),
        delay["flood_median_start_s"].as_f64().unwrap_or_default(),
        delay["flood_last_start_s"].as_f64().unwrap_or_default(),
        delay["lone_position"],
        runs.len()
    );
    if let Some(path) = &a.json {
        let figures = json!({
            "jobs": a.jobs, "tenants": a.tenants, "users_per_job": a.users, "nodes": a.nodes,
            "per_node": a.per_node, "one_node": one, "cluster": many,
            "cluster_over_one_node": ratio, "flood": delay,
        });
        std::fs::write(path, serde_json::to_string_pretty(&figures)?)?;
    }
    Ok(())
}

/// Runs per minute from the first start to the last end, and runs per node.
fn throughput(runs: &[Run]) -> Value {
    let first = runs.iter().map(Run::started).min().unwrap_or_default();
    let last = runs.iter().map(Run::finished).max().unwrap_or_default();
    let secs = (last - first).num_milliseconds().max(1) as f64 / 1000.0;
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for r in runs {
        *per_node
            .entry(r.node.clone().unwrap_or_default())
            .or_default() += 1;
    }
    json!({
        "runs": runs.len(), "seconds": secs, "runs_per_minute": runs.len() as f64 * 60.0 / secs,
        "per_node": per_node,
    })
}

fn report(label: &str, t: &Value) {
    println!(
        "  {label}: {} runs in {:.1} s = {:.0} runs/min (per node: {}; load after: {})",
        t["runs"],
        t["seconds"].as_f64().unwrap_or_default(),
        t["runs_per_minute"].as_f64().unwrap_or_default(),
        t["per_node"],
        load()
    );
}

/// The machine's 1-minute load average (a shared machine's noise).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

/// The lone tenant's start, against the flood's, in seconds after the
/// first run started.
fn lone_delay(runs: &[Run]) -> Value {
    let first = runs.iter().map(Run::started).min().unwrap_or_default();
    let after = |r: &Run| (r.started() - first).num_milliseconds() as f64 / 1000.0;
    let mut flood: Vec<f64> = runs
        .iter()
        .filter(|r| r.tenant_id == "flood")
        .map(after)
        .collect();
    flood.sort_by(f64::total_cmp);
    let lone = runs
        .iter()
        .find(|r| r.tenant_id == "lone")
        .map_or(0.0, after);
    let position = 1 + flood.iter().filter(|s| **s < lone).count();
    json!({
        "lone_start_s": lone,
        "flood_median_start_s": flood.get(flood.len() / 2).copied().unwrap_or_default(),
        "flood_last_start_s": flood.last().copied().unwrap_or_default(),
        "lone_position": position,
    })
}
