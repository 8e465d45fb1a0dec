//! `usersync serve`: the admin API, auth, OpenAPI, metrics, the run guard,
//! the scheduler (interval, retries, the plugin's `schedule` request) and
//! config reload. (Plugins: daemon_plugins.rs; shutdown: daemon_shutdown.rs.)

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::daemon_env::{flip_env, Served, TOKEN};
use crate::env::{TestEnv, CSV_SOURCE};

#[tokio::test(flavor = "multi_thread")]
async fn the_api_runs_a_job_and_serves_runs_users_audit_and_metrics() {
    let env = TestEnv::new(
        &[("plugins", "csv"), ("plugins", "default-mapper")],
        &format!(
            "connector = \"csv\"\n[jobs.grants]\ninput_dir = \"data\"\n[jobs.secrets]\napi = {{ value = \"hunter2-very-secret\" }}\n{CSV_SOURCE}"
        ),
    );
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n2,alan,true,Staff\n");
    let mut d = Served::start(env);

    // Health needs no token; everything else does, and says how to send it.
    let (status, health) = d.get_as("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert!(health["details"].is_null(), "details only with the token");
    let (status, err) = d.get_as("/jobs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{err}"
    );
    let (status, err) = d.get_as("/jobs", Some("not-the-token-at-all")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["error"], "the API token is not valid");
    let (status, _) = d.get_as("/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(d.ok("/health").await["details"]["jobs"], 1);

    // The OpenAPI document parses and describes the API.
    let (status, doc) = d.get_as("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/jobs/{id}/run",
        "/tenants/{tenant}/jobs/{id}",
        "/tenants/{tenant}/jobs/{id}/run",
        "/tenants/{tenant}/jobs/{id}/runs",
        "/runs/{id}",
        "/plugins",
        "/audit",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from /openapi.json"
        );
    }

    // A manual run, then its record, the users, groups and audit trail.
    let jobs = d.ok("/jobs").await;
    assert_eq!(jobs[0]["id"], "people");
    assert_eq!(jobs[0]["status"], "idle");
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["connector_version"], "csv 0.1.0");
    assert_eq!(run["mapper_versions"], "default-mapper 0.1.0");
    assert_eq!(run["counts"]["created"], 2);
    let job = d.ok("/jobs/people").await;
    assert_eq!(job["last_run"]["run_id"], run["id"]);
    assert_eq!(job["last_run"]["trigger"], "api");
    let users = d.ok("/users").await;
    assert_eq!(users["total"], 2);
    assert_eq!(users["users"][0]["username"], "ada");
    let page = d.ok("/users?limit=1&offset=1").await;
    assert_eq!(page["users"][0]["username"], "alan");
    assert!(page["next_offset"].is_null());
    assert_eq!(d.ok("/groups").await["groups"][0]["name"], "Staff");
    let audit = d.ok("/audit?kind=user&limit=1").await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);
    assert_eq!(audit["next_offset"], 1);
    assert_eq!(
        audit["events"][0]["plugin_versions"]["connector"],
        "csv 0.1.0"
    );
    let runs = d.ok("/runs?job=people").await;
    assert_eq!(runs["runs"][0]["id"], run["id"]);

    // A dry run is recorded as one; test-connection reports checks.
    let dry = d.run("people", "?dry_run=true").await;
    assert_eq!(dry["dry_run"], true);
    let (status, test) = d.post("/jobs/people/test-connection").await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!(test["ok"], true, "{test}");

    // Errors are JSON a person understands.
    let (status, err) = d.post("/jobs/nope/run").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        err["error"].as_str().unwrap().contains("no job \"nope\""),
        "{err}"
    );
    let (status, err) = d.get("/runs/does-not-exist").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(err["error"].is_string());
    let (status, err) = d.get("/users?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"].as_str().unwrap().contains("limit"), "{err}");
    let (status, err) = d.get("/runs?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

    // Metrics count the runs by outcome and time the plugin calls.
    let (status, metrics) = d.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(
            r#"usersync_runs_total{tenant="default",job="people",outcome="succeeded"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("usersync_run_duration_seconds_count"));
    assert!(metrics
        .contains(r#"usersync_records_read_total{tenant="default",job="people",kind="users"} 4"#));
    assert!(metrics.contains(r#"plugin="default-mapper",call="map-users""#));
    assert!(metrics.contains("usersync_plugin_load_failures_total 0"));

    // No answer carries a secret.
    for path in ["/jobs", "/jobs/people", "/health", "/plugins", "/runs"] {
        let body = d.ok(path).await.to_string();
        assert!(
            !body.contains("hunter2") && !body.contains(TOKEN),
            "{path} leaks a secret"
        );
    }
    assert!(d.stop().success(), "exit status; log:\n{}", d.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_during_a_run_answers_already_running() {
    // 20 users at 20 ms each (in one batch, under the 1 s CPU limit).
    let env = flip_env(20, "");
    env.set_job("mapping", json!({ "flip_delay_ms": 20 }));
    let mut d = Served::start(env);
    let (status, first) = d.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, again) = d.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(again["error"].as_str().unwrap().contains("already running"));
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(d.ok("/jobs/people").await["status"], "running");
    d.wait_finished("people", &first).await;
    let runs = d.ok("/runs?job=people").await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        1,
        "not queued twice"
    );
    assert!(d.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_runs_intervals_retries_failures_and_honours_plugin_requests() {
    let env = flip_env(2, "interval_seconds = 1");
    env.edit(|doc| {
        let jobs = doc["jobs"].as_array_mut().unwrap();
        // A job whose connector is missing: retried twice, 0.1 s then 0.2 s.
        let broken: toml::Table = toml::from_str(
            "id = \"broken\"\nconnector = \"missing\"\n[retry]\nattempts = 2\ninitial_seconds = 0.1\n",
        )
        .unwrap();
        jobs.push(toml::Value::Table(broken));
        // A job whose connector asks for its next run in 1 s.
        let mut asks = jobs[0].as_table().unwrap().clone();
        asks.insert("id".into(), "asks".into());
        asks.remove("interval_seconds");
        asks["source"]
            .as_table_mut()
            .unwrap()
            .insert("run_again_in".into(), 1.into());
        jobs.push(toml::Value::Table(asks));
    });
    let mut d = Served::start(env);

    // Interval: a run at start, then one after each interval.
    d.wait_for("two scheduled runs", "/runs?job=people", |r| {
        r["runs"].as_array().unwrap().len() >= 2
    })
    .await;
    // While a run is in flight no next run is planned yet, so wait for a
    // moment between runs rather than reading once (1 s intervals race).
    d.wait_for("a planned next run", "/jobs/people", |j| {
        j["last_run"]["trigger"] == "schedule" && j["next_run"]["trigger"] == "schedule"
    })
    .await;

    // Retries: one failure plus two retries, then the job waits (no schedule).
    let (status, _) = d.post("/jobs/broken/run").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let broken = d
        .wait_for("retries to run out", "/jobs/broken", |j| {
            j["last_run"]["trigger"] == "retry" && j["next_run"].is_null() && j["status"] == "idle"
        })
        .await;
    assert_eq!(broken["last_run"]["outcome"], "failed");
    let message = broken["last_run"]["message"].as_str().unwrap();
    assert!(message.contains("connector = \"missing\""), "{message}");
    let (_, metrics) = d.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains(r#"usersync_runs_total{tenant="default",job="broken",outcome="failed"} 3"#),
        "{metrics}"
    );

    // The plugin's request: the next run is planned for it, and happens.
    let first = d.run("asks", "").await;
    assert_eq!(first["outcome"], "succeeded");
    d.wait_for("the requested run", "/jobs/asks", |j| {
        j["last_run"]["trigger"] == "plugin_request" && j["status"] == "idle"
    })
    .await;
    assert!(d.stop().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_config_is_refused_and_the_previous_one_keeps_serving() {
    let mut d = Served::start(flip_env(2, ""));
    d.ok("/jobs/people").await;

    // An invalid cron expression: refused, named, the old config serves.
    d.env.edit(|doc| {
        doc["jobs"][0]
            .as_table_mut()
            .unwrap()
            .insert("schedule".into(), "61 * * * *".into());
    });
    let health = d
        .wait_for("the refusal", "/health", |h| {
            h["details"]["config_error"].is_string()
        })
        .await;
    assert_eq!(health["status"], "degraded");
    let error = health["details"]["config_error"].as_str().unwrap();
    assert!(error.contains("jobs[0].schedule"), "{error}");
    assert!(d.log().contains("the previous one keeps serving"));
    assert!(d.ok("/jobs/people").await["schedule"].is_null());
    assert_eq!(d.run("people", "").await["outcome"], "succeeded");

    // A valid change is served without a restart.
    d.env.edit(|doc| {
        doc["jobs"][0]
            .as_table_mut()
            .unwrap()
            .insert("schedule".into(), "0 3 * * *".into());
    });
    let job = d
        .wait_for("the new schedule and its next run", "/jobs/people", |j| {
            // The scheduler plans the next run a moment after the reload.
            j["schedule"] == "0 3 * * *" && !j["next_run"].is_null()
        })
        .await;
    assert_eq!(job["next_run"]["trigger"], "schedule");
    assert_eq!(d.ok("/health").await["status"], "ok");

    // SIGHUP reloads too (and does not stop the daemon).
    d.signal("HUP");
    let until = std::time::Instant::now() + crate::daemon_env::PATIENCE;
    while !d.log().contains("SIGHUP: config reloaded") {
        assert!(
            std::time::Instant::now() < until,
            "no reload on SIGHUP:\n{}",
            d.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _: Value = d.ok("/jobs").await;
    assert!(d.stop().success());
}
