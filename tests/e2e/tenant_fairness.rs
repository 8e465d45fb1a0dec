//! Tenants side by side in one daemon (issue 12): due jobs start
//! round-robin across tenants under `server.max_concurrent_runs`, and a
//! hostile tenant's plugins fail only that tenant's runs. The figures
//! (start delay, timings) are printed for the notes, never asserted.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon_env::{Served, PATIENCE};
use crate::env::{built, TestEnv};

/// The CSV job `people` as a template; the config's jobs are replaced by
/// `jobs` (tenant, id, extra keys), every one due as the daemon starts.
fn tenants_env(tenants: &[&str], jobs: Vec<(&str, String, toml::Table)>) -> TestEnv {
    let env = TestEnv::csv();
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    std::fs::copy(
        built("test-plugins", "hostile-connector"),
        env.dir.path().join("plugins/hostile-connector.wasm"),
    )
    .unwrap();
    env.edit(|doc| {
        let list = doc["tenants"].as_array_mut().unwrap();
        for t in tenants {
            let mut tenant = toml::Table::new();
            tenant.insert("id".into(), (*t).into());
            list.push(toml::Value::Table(tenant));
        }
        let all = doc["jobs"].as_array_mut().unwrap();
        let template = all.remove(0).as_table().unwrap().clone();
        for (tenant, id, extra) in jobs {
            let mut job = template.clone();
            job.insert("tenant".into(), tenant.into());
            job.insert("id".into(), id.into());
            job.insert("interval_seconds".into(), 3600.into());
            job.extend(extra);
            all.push(toml::Value::Table(job));
        }
    });
    env
}

/// Every run record, oldest first, once `n` runs have finished.
async fn finished_runs(d: &Served, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let runs = d.ok("/runs?limit=1000").await["runs"]
            .as_array()
            .unwrap()
            .clone();
        if runs.len() >= n && runs.iter().all(|r| r["outcome"] != "running") {
            let mut runs = runs;
            runs.sort_by(|a, b| a["started_at"].as_str().cmp(&b["started_at"].as_str()));
            return runs;
        }
        assert!(
            start.elapsed() < PATIENCE * 2,
            "{} of {n} runs finished; log:\n{}",
            runs.len(),
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn millis(at: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lone_tenants_job_starts_in_the_first_round_beside_a_tenant_with_40_due_jobs() {
    const BUSY: usize = 40;
    let mut jobs: Vec<_> = (0..BUSY)
        .map(|i| ("busy", format!("job{i:02}"), toml::Table::new()))
        .collect();
    jobs.push(("lone", "only".into(), toml::Table::new()));
    let env = tenants_env(&["busy", "lone"], jobs);
    env.edit(|doc| {
        doc.insert(
            "server".into(),
            toml::Value::Table(toml::toml! { max_concurrent_runs = 2 }),
        );
    });
    let d = Served::start(env);
    let runs = finished_runs(&d, BUSY + 1).await;
    let lone = runs.iter().position(|r| r["tenant_id"] == "lone").unwrap();
    assert!(
        lone < 2,
        "the lone tenant's job started as run {} of {}: {:?}",
        lone + 1,
        runs.len(),
        runs.iter()
            .map(|r| r["tenant_id"].as_str().unwrap())
            .collect::<Vec<_>>()
    );
    let first = millis(&runs[0]["started_at"]);
    let last_busy = runs
        .iter()
        .filter(|r| r["tenant_id"] == "busy")
        .map(|r| millis(&r["started_at"]))
        .max()
        .unwrap();
    eprintln!(
        "fairness: lone job started as run {} of {}, {} ms after the first run; \
         the busy tenant's last job started {} ms after the first (2 places)",
        lone + 1,
        runs.len(),
        millis(&runs[lone]["started_at"]) - first,
        last_busy - first
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_tenants_plugins_fail_only_its_runs_while_the_other_tenants_succeed() {
    let hostile = |mode: &str| {
        let mut source = toml::Table::new();
        source.insert("mode".into(), mode.into());
        source.insert("users".into(), 3.into());
        let mut t = toml::Table::new();
        t.insert("connector".into(), "hostile-connector".into());
        t.insert("source".into(), toml::Value::Table(source));
        t
    };
    let mut jobs = vec![
        ("evil", "loop".to_string(), hostile("loop")),
        ("evil", "flood".into(), hostile("flood")),
        ("evil", "memory".into(), hostile("memory")),
    ];
    // Three well-behaved tenants, one job each.
    const CALM: [&str; 3] = ["calm0", "calm1", "calm2"];
    for tenant in CALM {
        jobs.push((tenant, "people".into(), toml::Table::new()));
    }
    let d = Served::start(tenants_env(&["evil", CALM[0], CALM[1], CALM[2]], jobs));
    let runs = finished_runs(&d, 6).await;
    let mut timings = Vec::new();
    for run in &runs {
        let (tenant, job) = (
            run["tenant_id"].as_str().unwrap(),
            run["job_id"].as_str().unwrap(),
        );
        if tenant != "evil" {
            assert_eq!(run["outcome"], "succeeded", "{run}");
            timings.push(format!("{tenant} {} ms", run["duration_ms"]));
            continue;
        }
        assert_eq!(run["outcome"], "failed", "{run}");
        let expected = match job {
            "loop" => "without returning to the host",
            "flood" => "limits.max_read_mb",
            _ => "memory limit",
        };
        let message = run["message"].as_str().unwrap();
        assert!(message.contains(expected), "{job}: {message}");
    }
    for tenant in CALM {
        let users = d.ok(&format!("/users?tenant={tenant}")).await;
        assert_eq!(users["total"], 1, "{tenant}: {users}");
    }
    eprintln!(
        "noisy neighbours: the calm tenants' runs beside loop/flood/memory: {}",
        timings.join(", ")
    );
}
