//! Crash safety: `usersync sync` killed with SIGKILL at many points of a
//! large run never leaves half a run behind, and re-running converges; a
//! killed run is recorded interrupted by the next process, and only runs
//! whose owner is provably gone are.

use std::process::{Command, Stdio};
use std::time::Instant;

use usersync_host::engine::{Counts, Plan, RunMode, RunOutcome};
use usersync_host::store::{ApplyContext, RunRecord, Store};

use crate::env::TestEnv;

const ROWS: usize = 50_000;

/// Version `v` of a 50k-row file: every email differs between versions,
/// and each version has 1,000 users the other does not.
fn people(v: usize) -> String {
    let mut out = String::from("id,uid,givenName,sn,mail,active,groups\n");
    let first = if v == 1 { 0 } else { 1000 };
    for i in first..first + ROWS {
        out.push_str(&format!(
            "{i},user{i},Given{i},Family{i},v{v}.user{i}@example.com,true,Group{}\n",
            i % 50
        ));
    }
    out
}

/// The CSV environment with a read budget for 50,000 rows: the tests'
/// default (16 MiB) is sized for small files.
fn big_csv_env() -> TestEnv {
    let env = TestEnv::csv();
    env.edit(|doc| {
        doc["limits"]["max_read_mb"] = toml::Value::Integer(256);
    });
    env
}

fn sync_child(env: &TestEnv) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .args(["sync", "--job", "people", "--confirm-deletions"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Which version the store holds: every user's email must come from one
/// version only (a half-applied run would mix them).
async fn version(env: &TestEnv) -> usize {
    let users = env.host().await.store.users(None).await.unwrap();
    let active: Vec<_> = users.iter().filter(|u| u.active).collect();
    let v1 = active
        .iter()
        .filter(|u| u.email.as_deref().unwrap_or("").starts_with("v1."))
        .count();
    let v2 = active
        .iter()
        .filter(|u| u.email.as_deref().unwrap_or("").starts_with("v2."))
        .count();
    assert!(
        v1 == 0 || v2 == 0,
        "half a run is visible: {v1} users at v1, {v2} at v2"
    );
    assert_eq!(active.len(), ROWS, "active users");
    if v1 > 0 {
        1
    } else {
        2
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_run_never_leaves_half_of_it() {
    let env = big_csv_env();
    env.write_csv(&people(1));
    let started = Instant::now();
    assert!(sync_child(&env).wait().unwrap().success());
    let full_run = started.elapsed();
    assert_eq!(version(&env).await, 1);

    // Kill runs that switch to the other version at spread-out moments.
    let mut state = 1;
    let mut succeeded = succeeded_runs(&env).await;
    for percent in [10u32, 30, 50, 70, 80, 90, 95, 100, 110] {
        let target = 3 - state;
        env.write_csv(&people(target));
        let mut child = sync_child(&env);
        std::thread::sleep(full_run * percent / 100);
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        let before = state;
        state = version(&env).await;
        eprintln!(
            "killed at {percent}% of a full run: store holds version {state} (target {target})"
        );
        // The record commits with the data: a run whose changes are in the
        // store says so, with its counts, however soon after it was killed.
        let runs = succeeded_runs(&env).await;
        assert_eq!(
            runs,
            succeeded + usize::from(state != before),
            "a run is recorded succeeded exactly when its changes were committed"
        );
        succeeded = runs;
    }

    // Re-running converges to the file, whatever state the kills left.
    env.write_csv(&people(2));
    let config = env.dir.path().join("usersync.toml");
    let (ok, text) = crate::env::usersync(&[
        "-c",
        config.to_str().unwrap(),
        "sync",
        "--job",
        "people",
        "--confirm-deletions",
    ]);
    assert!(ok, "{text}");
    assert_eq!(version(&env).await, 2);
    let host = env.host().await;
    let users = host.store.users(None).await.unwrap();
    assert_eq!(users.len(), ROWS + 1000, "nobody lost, nobody duplicated");
    let (cursor, _) = host.store.job_cursor("default", "people").await.unwrap();
    assert_eq!(
        cursor.as_deref(),
        Some(format!("csv:rows={ROWS}").as_str()),
        "the cursor matches the data"
    );
    let runs = host.store.runs(None, Some("people"), 100).await.unwrap();
    assert!(
        runs.iter().all(|r| r.outcome != "running"),
        "killed runs are marked, not left running"
    );
}

/// Runs recorded succeeded, each with the counts of what it applied.
async fn succeeded_runs(env: &TestEnv) -> usize {
    let runs = env
        .host()
        .await
        .store
        .runs(None, Some("people"), 1000)
        .await
        .unwrap();
    let ok: Vec<_> = runs.iter().filter(|r| r.outcome == "succeeded").collect();
    for r in &ok {
        let counts = r.counts.as_ref().expect("a succeeded run has counts");
        assert!(counts["created"].as_u64().is_some(), "{counts}");
    }
    ok.len()
}

/// A second connection to the env's store (opening a `Host` would look for
/// interrupted runs; this does not).
async fn store(env: &TestEnv) -> Store {
    Store::open(&env.config().store_url()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_cli_sync_is_recorded_interrupted_by_the_next_process() {
    let env = big_csv_env();
    let store = store(&env).await;
    // Kill a run once it is recorded as running. On a loaded machine the
    // poll may miss a whole run; then the next version of the file runs.
    let mut attempts = 0;
    let id = 'attempt: loop {
        attempts += 1;
        env.write_csv(&people(attempts % 2 + 1));
        let mut child = sync_child(&env);
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let runs = store.runs(None, Some("people"), 10).await.unwrap();
            if let Some(r) = runs.iter().find(|r| r.outcome == "running") {
                let _ = child.kill(); // SIGKILL on Unix
                let _ = child.wait();
                break 'attempt r.id.clone();
            }
            assert!(Instant::now() < deadline, "the run never started");
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "the sync failed: {status}");
                assert!(attempts < 5, "every run ended before it was seen running");
                continue 'attempt;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.outcome, "running", "nobody has looked yet");

    // The next process to start finds the owner gone.
    let host = env.host().await;
    let run = host.store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.outcome, "interrupted", "{run:?}");
    assert!(run.finished_at.is_some());
    assert!(
        run.message
            .as_deref()
            .unwrap()
            .contains("the process running it stopped"),
        "{run:?}"
    );
    // Only runs that finished before it wrote users.
    let finished = host.store.runs(None, Some("people"), 10).await.unwrap();
    if finished.iter().all(|r| r.outcome != "succeeded") {
        assert!(host.store.users(None).await.unwrap().is_empty());
    }
    // The killed run's job lease went with it: the next CLI sync runs now.
    let config = env.dir.path().join("usersync.toml");
    let (ok, text) =
        crate::env::usersync(&["-c", config.to_str().unwrap(), "sync", "--job", "people"]);
    assert!(ok, "{text}");
}

/// A run row as a live process elsewhere would have written it.
pub fn running_record(id: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        tenant_id: "default".into(),
        job_id: "people".into(),
        mode: RunMode::Full,
        dry_run: false,
        started_at: "2026-01-01T00:00:00.000Z".into(),
        finished_at: None,
        duration_ms: None,
        outcome: RunOutcome::Running,
        message: None,
        counts: None,
        errors: None,
        warnings: None,
        connector_version: None,
        mapper_versions: None,
        node: None,
        phases: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_sync_beside_a_live_run_leaves_that_run_running() {
    let env = big_csv_env();
    env.write_csv(
        "id,uid,givenName,sn,mail,active,groups\n1,ada,Ada,L,ada@example.com,true,Staff\n",
    );
    let store = store(&env).await;
    // Owned by this test process, which is alive (as a daemon would be).
    store.start_run(&running_record("live")).await.unwrap();
    // Owned by processes on other hosts: one beating, one silent for long.
    store.start_run(&running_record("beating")).await.unwrap();
    store.start_run(&running_record("silent")).await.unwrap();
    crate::on_store!(store, |p| {
        sqlx::query("UPDATE runs SET owner_host = 'node-2' WHERE id IN ('beating', 'silent')")
            .execute(p)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE runs SET heartbeat_at = '2026-01-01T00:00:00.000Z' WHERE id = 'silent'",
        )
        .execute(p)
        .await
        .unwrap();
    });

    assert!(sync_child(&env).wait().unwrap().success());

    let outcome = async |id: &str| store.run(id).await.unwrap().unwrap().outcome;
    assert_eq!(outcome("live").await, "running", "a live process's run");
    assert_eq!(outcome("beating").await, "running", "a fresh heartbeat");
    assert_eq!(outcome("silent").await, "interrupted", "a stale heartbeat");
    let runs = store.runs(None, Some("people"), 10).await.unwrap();
    assert_eq!(
        runs.iter().filter(|r| r.outcome == "succeeded").count(),
        1,
        "the CLI's own run"
    );
}

#[tokio::test]
async fn applying_a_run_commits_its_record_with_its_data() {
    let env = big_csv_env();
    let store = store(&env).await;
    store.start_run(&running_record("r1")).await.unwrap();
    let finished = RunRecord {
        outcome: RunOutcome::Succeeded,
        finished_at: Some("2026-01-01T00:00:01.000Z".into()),
        duration_ms: Some(1000),
        counts: Some(serde_json::to_value(Counts::default()).unwrap()),
        ..running_record("r1")
    };
    let ctx = ApplyContext {
        tenant: "default".into(),
        job: "people".into(),
        run_id: "r1".into(),
        cursor: Some("c1".into()),
        full: true,
        run: Some(finished),
        ..ApplyContext::default()
    };
    store.apply(&mut Plan::default(), &ctx).await.unwrap();
    // No separate "finish" step: the apply's commit recorded the run.
    let run = store.run("r1").await.unwrap().unwrap();
    assert_eq!(run.outcome, "succeeded");
    assert_eq!(run.counts.unwrap()["created"], 0);
    assert_eq!(
        store
            .job_cursor("default", "people")
            .await
            .unwrap()
            .0
            .as_deref(),
        Some("c1")
    );
}

/// A commit whose answer the connection lost may have reached the
/// database: then its record, written in that transaction, stands, and the
/// failure written afterwards does not replace it.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_recorded_after_a_lost_commit_never_replaces_its_succeeded_record() {
    let env = big_csv_env();
    let s = store(&env).await;
    let running = running_record("r-commit");
    s.start_run(&running).await.unwrap();
    let ended = |outcome, message: &str| RunRecord {
        finished_at: Some("2026-01-01T00:00:01.000Z".into()),
        outcome,
        message: Some(message.into()),
        ..running.clone()
    };
    s.finish_run(&ended(RunOutcome::Succeeded, "applied"))
        .await
        .unwrap();
    let failed = ended(RunOutcome::Failed, "went away while the run committed");
    assert!(!s.finish_unapplied_run(&failed).await.unwrap());
    let run = s.run("r-commit").await.unwrap().unwrap();
    assert_eq!(run.outcome, "succeeded", "{run:?}");

    // A run still recorded running gets its failure.
    let other = running_record("r-failed");
    s.start_run(&other).await.unwrap();
    let failed = RunRecord {
        id: "r-failed".into(),
        ..failed
    };
    assert!(s.finish_unapplied_run(&failed).await.unwrap());
    let run = s.run("r-failed").await.unwrap().unwrap();
    assert_eq!(run.outcome, "failed", "{run:?}");
}
