//! Tenants: a tenant's own plugins folder serves only that tenant, and each
//! tenant's users live in its own rows.

use usersync_host::sync::SyncRequest;

use crate::daemon_env::Served;
use crate::env::{built, TestEnv};

const PEOPLE: &str =
    "id,uid,title,employeeType,active,groups\n1,ada,Engineer,contractor,true,Staff\n";

fn two_tenants() -> TestEnv {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    let acme = env.dir.path().join("plugins/tenants/acme");
    std::fs::create_dir_all(&acme).unwrap();
    std::fs::copy(
        built("example-plugins", "contractor-mapper"),
        acme.join("contractor-mapper.wasm"),
    )
    .unwrap();
    env.edit(|doc| {
        let tenants = doc["tenants"].as_array_mut().unwrap();
        tenants.push(toml::Value::Table(toml::toml! { id = "acme" }));
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut acme_job = jobs[0].as_table().unwrap().clone();
        acme_job.insert("id".into(), "acme-people".into());
        acme_job.insert("tenant".into(), "acme".into());
        acme_job.insert(
            "mappers".into(),
            toml::Value::Array(vec!["default-mapper".into(), "contractor-mapper".into()]),
        );
        jobs.push(toml::Value::Table(acme_job));
    });
    env
}

#[tokio::test]
async fn a_tenant_plugin_serves_only_its_tenant() {
    let env = two_tenants();
    let host = env.host().await;
    let acme = host
        .sync(&SyncRequest {
            job: "acme-people".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(acme.run.outcome, "succeeded");
    assert!(acme
        .run
        .mapper_versions
        .unwrap()
        .contains("contractor-mapper"));

    // The default tenant cannot name acme's plugin.
    env.set_job(
        "mappers",
        serde_json::json!(["default-mapper", "contractor-mapper"]),
    );
    let err = env
        .host()
        .await
        .sync(&SyncRequest {
            job: "people".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("contractor-mapper"), "{err:#}");
}

#[tokio::test]
async fn each_tenant_has_its_own_rows() {
    let env = two_tenants();
    let host = env.host().await;
    for job in ["people", "acme-people"] {
        host.sync(&SyncRequest {
            job: job.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let default = host.store.users(Some("default")).await.unwrap();
    let acme = host.store.users(Some("acme")).await.unwrap();
    assert_eq!(
        (default.len(), acme.len()),
        (1, 1),
        "the same source user exists once per tenant"
    );
    assert_eq!(default[0].tenant_id, "default");
    assert_eq!(acme[0].tenant_id, "acme");
}

// ---- Two tenants with the same job id (issue 11, item 2) ----

const ACME_CSV: &str = "id,uid,active,groups\n1,ada,true,Staff\n2,alan,true,Staff\n";
const GLOBEX_CSV: &str = "id,uid,active,groups\n7,grace,true,Ops\n";

/// Tenants `acme` and `globex`, each with a job `people` reading its own
/// CSV (folder `acme/` or `globex/`); `extra` is merged into both jobs.
pub fn same_job_id_in_two_tenants(extra: toml::Table) -> TestEnv {
    let env = TestEnv::csv();
    for (tenant, csv) in [("acme", ACME_CSV), ("globex", GLOBEX_CSV)] {
        let dir = env.dir.path().join(tenant);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("people.csv"), csv).unwrap();
    }
    env.edit(|doc| {
        let tenants = doc["tenants"].as_array_mut().unwrap();
        tenants.push(toml::Value::Table(toml::toml! { id = "acme" }));
        tenants.push(toml::Value::Table(toml::toml! { id = "globex" }));
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let template = jobs.remove(0).as_table().unwrap().clone();
        for tenant in ["acme", "globex"] {
            let mut job = template.clone();
            job.insert("tenant".into(), tenant.into());
            job.insert(
                "grants".into(),
                toml::Value::Table(toml::toml! { input_dir = tenant }),
            );
            job.extend(extra.clone());
            jobs.push(toml::Value::Table(job));
        }
    });
    env
}

fn usernames(users: &serde_json::Value) -> Vec<String> {
    users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tenants_with_job_people_both_run_under_the_daemon() {
    use reqwest::StatusCode;

    // An interval: the scheduler starts both jobs as soon as it starts.
    let env = same_job_id_in_two_tenants(toml::toml! { interval_seconds = 3600 });
    let d = Served::start(env);
    for tenant in ["acme", "globex"] {
        let path = format!("/tenants/{tenant}/jobs/people");
        let job = d
            .wait_for(&format!("{tenant}'s first run"), &path, |j| {
                j["status"] == "idle" && j["last_run"]["outcome"].is_string()
            })
            .await;
        assert_eq!(job["tenant"], tenant);
        assert_eq!(job["path"], path);
        assert_eq!(job["last_run"]["outcome"], "succeeded", "{job}");
        assert_eq!(job["last_run"]["trigger"], "schedule", "{job}");
    }

    // Each tenant's store holds exactly its own CSV's users.
    assert_eq!(
        usernames(&d.ok("/users?tenant=acme").await),
        ["ada", "alan"]
    );
    assert_eq!(usernames(&d.ok("/users?tenant=globex").await), ["grace"]);

    // GET /jobs: two entries, each with its tenant and its own last run.
    let jobs = d.ok("/jobs").await;
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let tenants: Vec<_> = jobs.iter().map(|j| j["tenant"].as_str().unwrap()).collect();
    assert_eq!(tenants, ["acme", "globex"]);
    assert!(jobs.iter().all(|j| j["id"] == "people"));
    assert_ne!(jobs[0]["last_run"]["run_id"], jobs[1]["last_run"]["run_id"]);
    for job in jobs {
        let run = d
            .ok(&format!(
                "/runs/{}",
                job["last_run"]["run_id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(run["tenant_id"], job["tenant"], "{run}");
        assert_eq!(run["job_id"], "people");
    }
    let globex_runs = d.ok("/tenants/globex/jobs/people/runs").await;
    assert_eq!(globex_runs["runs"].as_array().unwrap().len(), 1);
    assert_eq!(globex_runs["runs"][0]["counts"]["created"], 1);
    let acme_runs = d.ok("/runs?tenant=acme&job=people").await;
    assert_eq!(acme_runs["runs"][0]["counts"]["created"], 2);

    // A bare id is refused while ambiguous, naming the tenants.
    for (status, err) in [
        d.get("/jobs/people").await,
        d.post("/jobs/people/run").await,
        d.post("/jobs/people/test-connection").await,
        d.get("/runs?job=people").await,
        d.get("/users?job=people").await,
        d.get("/audit?job=people").await,
    ] {
        assert_eq!(status, StatusCode::CONFLICT, "{err}");
        let text = err["error"].as_str().unwrap();
        assert!(text.contains("acme, globex"), "{text}");
        assert_eq!(err["tenants"], serde_json::json!(["acme", "globex"]));
    }
    let (status, err) = d.get("/tenants/initech/jobs/people").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");

    // A manual run of one tenant's job leaves the other alone.
    let (status, started) = d.post("/tenants/globex/jobs/people/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["tenant"], "globex");
    assert_eq!(started["job_url"], "/tenants/globex/jobs/people");
    d.wait_for("globex's manual run", "/tenants/globex/jobs/people", |j| {
        j["status"] == "idle" && j["last_run"]["run_id"] == started["run_id"]
    })
    .await;
    let acme = d.ok("/tenants/acme/jobs/people").await;
    assert_eq!(acme["last_run"]["trigger"], "schedule", "{acme}");

    // Metrics carry the tenant as well as the job.
    let (_, metrics) = d.get("/metrics").await;
    let metrics = metrics.as_str().unwrap();
    for line in [
        r#"usersync_runs_total{tenant="acme",job="people",outcome="succeeded"} 1"#,
        r#"usersync_runs_total{tenant="globex",job="people",outcome="succeeded"} 2"#,
        r#"usersync_records_read_total{tenant="acme",job="people",kind="users"} 2"#,
        r#"usersync_records_read_total{tenant="globex",job="people",kind="users"} 2"#,
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
}

fn cli(env: &TestEnv, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_refuses_an_ambiguous_job_id_and_accepts_tenant() {
    let env = same_job_id_in_two_tenants(toml::Table::new());
    for args in [
        &["sync", "--job", "people"][..],
        &["test-connection", "--job", "people"],
        &["runs", "--job", "people"],
        &["audit", "--job", "people"],
        &[
            "verify-password",
            "--job",
            "people",
            "ada",
            "--password-stdin",
        ],
    ] {
        let out = cli(&env, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted an ambiguous id");
        assert!(
            stderr.contains("job `people` exists in tenants acme, globex: pass --tenant"),
            "{args:?}: {stderr}"
        );
    }

    let out = cli(&env, &["sync", "--job", "people", "--tenant", "globex"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &env,
        &["--json", "runs", "--job", "people", "--tenant", "globex"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["tenant_id"], "globex");
    let out = cli(&env, &["--json", "runs", "--tenant", "acme"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        runs.as_array().unwrap().len(),
        0,
        "acme has not run: {runs}"
    );

    let out = cli(&env, &["sync", "--job", "people", "--tenant", "initech"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no tenant \"initech\""), "{stderr}");
}

#[test]
fn a_job_id_is_unique_within_its_tenant_only() {
    let config = |jobs: &str| {
        let text = format!("[[tenants]]\nid = \"acme\"\n[[tenants]]\nid = \"globex\"\n{jobs}");
        usersync_host::config::Config::parse(&text, "test.toml", ".".into())
    };
    let job = |tenant: &str| {
        format!("[[jobs]]\nid = \"people\"\ntenant = \"{tenant}\"\nconnector = \"csv\"\n")
    };
    let both = config(&format!("{}{}", job("acme"), job("globex"))).unwrap();
    assert_eq!(both.job(Some("globex"), "people").unwrap().tenant, "globex");
    let err = both.job(None, "people").unwrap_err().to_string();
    assert!(err.contains("exists in tenants acme, globex"), "{err}");

    let err = config(&format!("{}{}", job("acme"), job("acme"))).unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("jobs[1].id = \"people\" is used twice in tenant \"acme\" (also jobs[0].id)"),
        "{err}"
    );
}
