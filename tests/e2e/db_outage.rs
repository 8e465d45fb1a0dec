//! The store's PostgreSQL going away mid-run (a fast shutdown, as in a
//! restart or failover): the run fails naming the database, applies
//! nothing, is recorded once the database is back; `/health` says 503
//! meanwhile, and the daemon reconnects and carries on without a restart.
//! Always on PostgreSQL, on a cluster of its own (it is stopped mid-test).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use usersync_host::store::Store;

use crate::daemon_env::Served;
use crate::leases::{set_node, slow_env};

/// Poll `/health` (no token) until `want` answers; bounded.
async fn wait_health(d: &Served, want: StatusCode, database: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = d.get_as("/health", None).await;
        if status == want && body["database"] == database {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/health never said {want} {database}: {status} {body}\nlog:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_going_away_mid_run_fails_the_run_and_the_daemon_reconnects_and_carries_on() {
    let mut pg = ldap_harness::Postgres::start().expect("a PostgreSQL cluster of this test's own");
    let url = pg.url(&pg.create_database().unwrap());
    let env = slow_env(30, 100);
    set_node(&env, "node-a");
    env.edit(|doc| {
        doc["server"]["lease_seconds"] = toml::Value::Integer(4);
        // No automatic retry racing the test's own next run.
        let mut retry = toml::Table::new();
        retry.insert("attempts".into(), 0.into());
        doc["jobs"][0]
            .as_table_mut()
            .unwrap()
            .insert("retry".into(), retry.into());
    });
    env.set_store_url(&url);
    let d = Served::start(env);
    let (status, health) = d.get_as("/health", None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(
        (health["database"].as_str(), health["node"].as_str()),
        (Some("ok"), Some("node-a"))
    );

    let (status, started) = d.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["run_id"].as_str().unwrap().to_string();
    d.wait_for("the run to be recorded", &format!("/runs/{id}"), |r| {
        r["outcome"] == "running"
    })
    .await;

    // The database goes away while the run maps (3 s of it).
    pg.stop_fast();
    wait_health(&d, StatusCode::SERVICE_UNAVAILABLE, "unreachable").await;
    let (status, body) = d.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // The run fails at its apply (the pool gives up within 15 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.log().contains("went away during the run") {
        assert!(
            Instant::now() < deadline,
            "the run never failed; log:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    pg.start_again().expect("PostgreSQL starts again");
    wait_health(&d, StatusCode::OK, "ok").await;
    let run = d
        .wait_for("the failed run's record", &format!("/runs/{id}"), |r| {
            r["outcome"] == "failed"
        })
        .await;
    let message = run["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "the store's database at 127.0.0.1:{} went away during the run: ",
            pg.port()
        )) && message.ends_with("; nothing was applied; the next run retries")
            && !message.contains("usersync-test-password"),
        "{message}"
    );
    let store = Store::open(&url).await.unwrap();
    assert!(
        store.users(None).await.unwrap().is_empty(),
        "nothing applied"
    );

    // The same daemon carries on: the next run applies everything (once
    // the failed run has also ended in the daemon, a moment after its record).
    d.wait_for("the job to be idle", "/jobs/people", |j| {
        j["status"] == "idle"
    })
    .await;
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(store.users(None).await.unwrap().len(), 30);
    let log = d.log();
    assert_eq!(
        log.matches("runs are paused").count(),
        1,
        "one line per change:\n{log}"
    );
    assert_eq!(
        log.matches("answers again; runs resume").count(),
        1,
        "{log}"
    );
    let metrics = d.ok("/metrics").await;
    assert!(
        metrics.as_str().unwrap().contains("usersync_store_up 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_exits_at_start_when_the_database_is_unreachable_naming_it() {
    let mut pg = ldap_harness::Postgres::start().expect("a PostgreSQL cluster of this test's own");
    let url = pg.url(&pg.create_database().unwrap());
    pg.stop_fast();
    let env = slow_env(1, 0);
    env.set_store_url(&url);
    let config = env.dir.path().join("usersync.toml");
    let (ok, text) = crate::env::usersync(&[
        "-c",
        config.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{}", pg.port()))
            && !text.contains("usersync-test-password"),
        "{text}"
    );
}
