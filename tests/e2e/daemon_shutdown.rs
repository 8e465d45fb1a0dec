//! Graceful shutdown of `usersync serve`: SIGTERM in the middle of a run
//! stops it at the next batch, records an honest outcome, applies nothing
//! of it, and the process exits 0.

use serde_json::json;
use usersync_host::store::Store;

use crate::daemon_env::Served;
use crate::env::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_records_a_cancelled_run_and_exits_0() {
    // 1,200 rows in batches of 40, mapped at 3 ms a user: 30 batches of
    // 120 ms, so the run is mid-read for seconds.
    let env = TestEnv::new(
        &[("plugins", "csv")],
        "connector = \"csv\"\nmappers = [\"flip-mapper\"]\n[jobs.grants]\ninput_dir = \"data\"\n",
    );
    std::fs::copy(
        crate::env::built("test-plugins", "flip-mapper-a"),
        env.dir.path().join("plugins/flip-mapper.wasm"),
    )
    .unwrap();
    env.set_job(
        "source",
        json!({ "path": "/input/people.csv", "id_column": "id", "batch_size": 40 }),
    );
    env.set_job("mapping", json!({ "flip_delay_ms": 3 }));
    let mut csv = String::from("id,uid\n");
    for i in 0..1200 {
        csv.push_str(&format!("{i},user{i}\n"));
    }
    env.write_csv(&csv);
    let mut d = Served::start(env);

    let (_, started) = d.post("/jobs/people/run").await;
    let run_id = started["run_id"].as_str().unwrap().to_string();
    d.wait_for("the run to be under way", "/metrics", |m| {
        m.as_str()
            .unwrap()
            .contains(r#"plugin="flip-mapper",call="map-users""#)
    })
    .await;
    let status = d.stop();
    assert!(status.success(), "exit status {status}; log:\n{}", d.log());
    let log = d.log();
    assert!(
        log.contains("SIGTERM: shutting down; runs in flight: 1"),
        "{log}"
    );

    // Read the store as the daemon left it (without marking anything).
    let store = Store::open(&d.env.config().store_url()).await.unwrap();
    let run = store.run(&run_id).await.unwrap().expect("the run record");
    assert_eq!(run.outcome, "cancelled", "{run:?}");
    let message = run.message.unwrap();
    assert!(
        message.contains("shutting down") && message.contains("nothing of it was applied"),
        "{message}"
    );
    assert!(run.finished_at.is_some());
    assert!(
        store.users(None).await.unwrap().is_empty(),
        "a cancelled run applies nothing"
    );
}
