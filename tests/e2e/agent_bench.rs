//! Throughput of agent mode, run by hand (ignored by default):
//!
//! ```sh
//! USERSYNC_AGENT_BENCH_USERS=20000 cargo test --release -p usersync-host --test e2e \
//!   -- --ignored agent_bench --nocapture
//! ```
//!
//! One slapd; a full sync of every user into an empty store by `usersync sync` (the connector in
//! process), then by `usersync serve` with an agent (the connector in the agent, batches over
//! HTTPS on loopback). Each is the best of two runs, each run into an empty store; prints the ratio.

use std::process::Command;
use std::time::{Duration, Instant};

use ldap_harness::{DirectorySpec, SlapdOptions};

use crate::agent_env::{active_users, agent_env, trigger, Agent};
use crate::daemon_env::Served;
use crate::ldap_env::{openldap_env, openldap_source};

fn users() -> usize {
    std::env::var("USERSYNC_AGENT_BENCH_USERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000)
}

fn bigger_limits(env: &crate::env::TestEnv) {
    env.edit(|doc| {
        let limits = doc["limits"].as_table_mut().unwrap();
        limits.insert("max_read_mb".into(), 4096.into());
        limits.insert("memory_mb".into(), 1024.into());
        limits.insert("cpu_seconds".into(), 60.0.into());
        limits.insert("max_output_kb".into(), 65536.into());
    });
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn agent_bench_full_sync_through_an_agent_vs_in_process() {
    let n = users();
    let spec = DirectorySpec::new(n, (n / 20).max(1), 42).with_memberof(true);
    let slapd = ldap_harness::Slapd::start_generated(&spec, SlapdOptions::default()).unwrap();
    let mut source = openldap_source(&slapd);
    source["page_size"] = 1000.into();

    let mut local = Duration::MAX;
    for _ in 0..2 {
        let env = openldap_env(&slapd, source.clone());
        bigger_limits(&env);
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_usersync"))
            .arg("-c")
            .arg(env.dir.path().join("usersync.toml"))
            .args(["sync", "--job", "people"])
            .output()
            .unwrap();
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        local = local.min(took);
    }

    let mut agent_time = Duration::MAX;
    for _ in 0..2 {
        let env = agent_env(&slapd);
        env.set_job("source", source.clone());
        bigger_limits(&env);
        env.edit(|doc| {
            let server = doc["server"].as_table_mut().unwrap();
            server.insert("agent_max_batch_kb".into(), 16384.into());
            server.insert("agent_timeout_seconds".into(), 60.into());
        });
        let d = Served::start(env);
        let mut agent = Agent::enrol(&d, "default", "bench", &slapd).await;
        std::fs::write(
            agent.dir.join("agent.toml"),
            std::fs::read_to_string(agent.dir.join("agent.toml"))
                .unwrap()
                .replace("batch_kb = 16", "batch_kb = 1024"),
        )
        .unwrap();
        agent.start(slapd.admin_password());
        // The agent is polling: what is timed is the run, from trigger to its end.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let run = trigger(&d, "default").await;
        // Longer than the other tests' patience: 100k users take a while.
        loop {
            let job = d.ok("/tenants/default/jobs/people").await;
            if job["status"] == "idle" && job["last_run"]["run_id"] == run["run_id"] {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(900), "{job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = started.elapsed();
        let run = d
            .ok(&format!("/runs/{}", run["run_id"].as_str().unwrap()))
            .await;
        assert_eq!(run["outcome"], "succeeded", "{run}\n{}", agent.log());
        assert!(active_users(&d, "default").await > 0);
        agent_time = agent_time.min(took);
    }
    println!(
        "agent bench: {n} users, full sync in process {:.2} s, through an agent {:.2} s, ratio {:.2}",
        local.as_secs_f64(),
        agent_time.as_secs_f64(),
        agent_time.as_secs_f64() / local.as_secs_f64()
    );
}
